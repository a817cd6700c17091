//! Image references, normalised exactly the way docker does it
//! (`github.com/distribution/reference`: `ParseNormalizedNamed`,
//! `TagNameOnly`, `FamiliarName`, `FamiliarString`).
//!
//! ```text
//! reference := name [ ":" tag ] [ "@" digest ]
//! name      := [ domain "/" ] path-component { "/" path-component }
//! domain    := host [ ":" port ]          host: dns name, IPv4, or "[" IPv6 "]"
//! ```
//!
//! Normalisation rules:
//! * the first `/`-separated component is a domain only when it contains a
//!   `.` or a `:`, is `localhost`, or contains an uppercase letter; otherwise
//!   the domain is `docker.io`;
//! * `index.docker.io` is rewritten to `docker.io`;
//! * on `docker.io`, a single-component path gets the `library/` prefix.
//!
//! A bare 64-character lowercase hex string is refused with
//! [`ReferenceError::AmbiguousId`] (docker's "cannot specify 64-byte
//! hexadecimal strings"): callers that accept image ids must check for ids
//! *before* treating the input as a reference.

use std::fmt;
use std::str::FromStr;

use crate::digest::{Digest, DigestError};

/// The domain images without an explicit registry live on.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The historical Docker Hub domain, normalised to [`DEFAULT_DOMAIN`].
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// The namespace of Docker Hub's official images.
pub const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The host that actually serves Docker Hub's registry API.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
/// The key Docker Hub credentials are stored under in `~/.docker/config.json`
/// (and the `serveraddress` docker clients send for Docker Hub).
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";
/// The tag implied when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
/// Maximum length of `domain/path`.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Why a string is not a valid image reference. Messages are docker's.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The string does not match the reference grammar.
    #[error("invalid reference format")]
    InvalidFormat,
    /// The repository path contains uppercase letters (holds the path).
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    /// `domain/path` is longer than [`NAME_TOTAL_LENGTH_MAX`].
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    /// The input is a bare 64-hex string, which docker reserves for image ids.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    AmbiguousId(String),
    /// A tag given to [`Reference::with_tag`] is malformed.
    #[error("invalid tag format")]
    InvalidTag,
    /// The digest part is well-formed but not a supported digest.
    #[error(transparent)]
    Digest(#[from] DigestError),
}

/// A normalised image reference: `domain/path[:tag][@digest]`.
///
/// Invariants: `domain` and `path` are valid and normalised (see the module
/// docs), `tag` matches `[\w][\w.-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parse and normalise a user-supplied reference (docker's
    /// `ParseNormalizedNamed`). `busybox` becomes
    /// `docker.io/library/busybox` with no tag; see [`Self::with_default_tag`].
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::InvalidFormat);
        }
        if is_hex64(s) {
            return Err(ReferenceError::AmbiguousId(s.to_owned()));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote_name = remainder
            .split_once(':')
            .map_or(remainder.as_str(), |(name, _)| name);
        if remote_name.to_lowercase() != remote_name {
            return Err(ReferenceError::Uppercase(remote_name.to_owned()));
        }

        let (name_and_tag, digest) = match remainder.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (remainder.as_str(), None),
        };
        let (path, tag) = match name_and_tag.split_once(':') {
            Some((path, tag)) => (path, Some(tag)),
            None => (name_and_tag, None),
        };
        if !is_valid_domain(domain) || !is_valid_path(path) {
            return Err(ReferenceError::InvalidFormat);
        }
        if let Some(tag) = tag {
            if !is_valid_tag(tag) {
                return Err(ReferenceError::InvalidFormat);
            }
        }
        let digest = match digest {
            Some(d) if is_digest_shaped(d) => Some(d.parse::<Digest>()?),
            Some(_) => return Err(ReferenceError::InvalidFormat),
            None => None,
        };
        if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong);
        }
        Ok(Self {
            domain: domain.to_owned(),
            path: path.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// Docker's `TagNameOnly`: adds the `latest` tag when the reference has
    /// neither a tag nor a digest.
    #[must_use]
    pub fn with_default_tag(mut self) -> Self {
        if self.is_name_only() {
            self.tag = Some(DEFAULT_TAG.to_owned());
        }
        self
    }

    /// The same repository with `tag` (replacing any previous tag; a digest
    /// is kept). Fails with [`ReferenceError::InvalidTag`] on a malformed tag.
    pub fn with_tag(mut self, tag: &str) -> Result<Self, ReferenceError> {
        if !is_valid_tag(tag) {
            return Err(ReferenceError::InvalidTag);
        }
        self.tag = Some(tag.to_owned());
        Ok(self)
    }

    /// The same repository pinned to `digest` (any tag is kept).
    #[must_use]
    pub fn with_digest(mut self, digest: Digest) -> Self {
        self.digest = Some(digest);
        self
    }

    /// The same repository without tag or digest.
    #[must_use]
    pub fn name_only(&self) -> Self {
        Self {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    /// The registry domain (`docker.io`, `127.0.0.1:5000`, `[::1]:5000`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The repository name used in registry API URLs (`/v2/<repository>/…`);
    /// the same as [`Self::path`].
    pub fn repository(&self) -> &str {
        &self.path
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// True when there is neither tag nor digest.
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// What to ask the registry's manifest endpoint for: the digest when
    /// present (it wins over a tag, as in docker), else the tag, else `latest`.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_owned(),
        }
    }

    /// The full name: `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// Docker's `FamiliarName`: `busybox`, `foo/bar`, `127.0.0.1:5000/a/b`.
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(rest) if !rest.contains('/') => rest.to_owned(),
            _ => self.path.clone(),
        }
    }

    /// Docker's `FamiliarString`: the familiar name plus `:tag` and
    /// `@digest` when present (`busybox:latest`, `busybox@sha256:…`).
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    /// True for Docker Hub references.
    pub fn is_docker_hub(&self) -> bool {
        self.domain == DEFAULT_DOMAIN
    }

    /// Docker's index name for this reference (`docker.io`, or the domain).
    pub fn index_name(&self) -> &str {
        &self.domain
    }

    /// The host serving the registry API: `registry-1.docker.io` for Docker
    /// Hub, the domain otherwise (mirrors aside).
    pub fn registry_host(&self) -> &str {
        if self.is_docker_hub() {
            DOCKER_HUB_API_HOST
        } else {
            &self.domain
        }
    }

    /// The key credentials for this registry are stored under in docker's
    /// config: `https://index.docker.io/v1/` for Docker Hub, the domain
    /// otherwise.
    pub fn auth_config_key(&self) -> &str {
        if self.is_docker_hub() {
            DOCKER_HUB_AUTH_KEY
        } else {
            &self.domain
        }
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(&digest.to_string());
        }
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Reference {
    /// The fully qualified form: `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

/// True when `tag` is a valid tag: `[\w][\w.-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    match bytes.split_first() {
        Some((&first, rest)) => {
            word(first)
                && rest.len() <= 127
                && rest.iter().all(|&b| word(b) || b == b'.' || b == b'-')
        }
        None => false,
    }
}

/// docker's `splitDockerDomain`: returns (domain, remainder).
fn split_docker_domain(name: &str) -> (&str, String) {
    let (mut domain, remainder) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first, rest.to_owned())
        }
        _ => (DEFAULT_DOMAIN, name.to_owned()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN;
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        return (domain, format!("{OFFICIAL_REPO_PREFIX}{remainder}"));
    }
    (domain, remainder)
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `host[:port]` where host is a dotted DNS name / IPv4 or `[IPv6]`.
fn is_valid_domain(domain: &str) -> bool {
    let (host_ok, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return false;
        };
        let ipv6_ok =
            !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
        match after {
            "" => (ipv6_ok, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (ipv6_ok, Some(port)),
                None => return false,
            },
        }
    } else {
        let (host, port) = match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        };
        (host.split('.').all(is_valid_domain_component), port)
    };
    host_ok && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`
fn is_valid_domain_component(c: &str) -> bool {
    let b = c.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
        }
        _ => false,
    }
}

/// `path-component ("/" path-component)*`
fn is_valid_path(path: &str) -> bool {
    path.split('/').all(is_valid_path_component)
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_valid_path_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    let mut i = 0;
    loop {
        // An alphanumeric run.
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        // A separator.
        let sep_start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        match &c[sep_start..i] {
            "." | "_" | "__" => {}
            sep if sep.bytes().all(|b| b == b'-') => {}
            _ => return false,
        }
    }
}

/// `[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
fn is_digest_shaped(d: &str) -> bool {
    let Some((algorithm, encoded)) = d.split_once(':') else {
        return false;
    };
    let algorithm_ok = algorithm.split(['-', '_', '+', '.']).all(|part| {
        let mut bytes = part.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
            && bytes.all(|b| b.is_ascii_alphanumeric())
    });
    algorithm_ok && encoded.len() >= 32 && encoded.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests;
