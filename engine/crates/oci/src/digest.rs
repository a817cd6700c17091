//! Content digests (`sha256:<hex>`), the identity of every blob, layer and image.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A parsed, validated `sha256:<64 hex>` digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

/// Why a string is not a digest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    /// The algorithm prefix is missing or not `sha256`.
    #[error("unsupported digest algorithm in {0:?}")]
    Algorithm(String),
    /// The encoded part is not 64 lowercase hex characters.
    #[error("invalid checksum digest format: {0:?}")]
    Format(String),
}

impl Digest {
    /// Digest of an in-memory byte slice.
    pub fn of(bytes: &[u8]) -> Self {
        Self::from_sha256(Sha256::digest(bytes).into())
    }

    /// Digest from a finished SHA-256 state.
    pub fn from_sha256(raw: [u8; 32]) -> Self {
        Self {
            hex: hex::encode(raw),
        }
    }

    /// Parse a bare 64-character hex string (no algorithm prefix).
    pub fn from_hex(hex: &str) -> Result<Self, DigestError> {
        if hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Self {
                hex: hex.to_owned(),
            })
        } else {
            Err(DigestError::Format(hex.to_owned()))
        }
    }

    /// The 64 hex characters.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex characters, as docker shows short ids.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some(("sha256", hex)) => {
                Self::from_hex(hex).map_err(|_| DigestError::Format(s.to_owned()))
            }
            _ => Err(DigestError::Algorithm(s.to_owned())),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An incremental SHA-256 that yields a [`Digest`].
#[derive(Default, Clone)]
pub struct Hasher(Sha256);

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hasher(sha256)")
    }
}

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self::default()
    }
    /// Feed bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    /// Finish and return the digest.
    pub fn finish(self) -> Digest {
        Digest::from_sha256(self.0.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_is_well_known() {
        assert_eq!(
            Digest::of(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn parse_round_trip_and_rejects() {
        let d: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            .parse()
            .expect("valid digest");
        assert_eq!(d.short(), "e3b0c44298fc");
        assert!("sha512:abcd".parse::<Digest>().is_err());
        assert!("sha256:XYZ".parse::<Digest>().is_err());
        assert!("e3b0".parse::<Digest>().is_err());
        let mut h = Hasher::new();
        h.update(b"a");
        h.update(b"bc");
        assert_eq!(h.finish(), Digest::of(b"abc"));
    }
}
