//! Layer decompression by sniffing the stream's magic bytes (gzip, zstd, or
//! plain tar), so media-type mistakes in the wild do not matter.

use std::io::{self, BufRead, BufReader, Read};

/// A layer's compression, as detected from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// Detect the compression from a stream's first bytes.
    pub fn sniff(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else {
            Self::None
        }
    }
}

/// Wrap `reader` in the decompressor its magic bytes call for. Reads ahead
/// through a 256 KiB buffer.
pub fn decompress<'a, R: Read + 'a>(reader: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut buffered = BufReader::with_capacity(256 * 1024, reader);
    let kind = Compression::sniff(buffered.fill_buf()?);
    let out: Box<dyn Read + 'a> = match kind {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
        Compression::None => Box::new(buffered),
    };
    Ok((kind, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(kind: Compression, packed: Vec<u8>) {
        let (found, mut r) = decompress(&packed[..]).expect("open");
        assert_eq!(found, kind);
        let mut out = Vec::new();
        r.read_to_end(&mut out).expect("read");
        assert_eq!(out, b"hello layer".repeat(1000));
    }

    #[test]
    fn detects_and_decodes_each_kind() {
        let plain = b"hello layer".repeat(1000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).expect("gz");
        roundtrip(Compression::Gzip, gz.finish().expect("gz"));
        roundtrip(
            Compression::Zstd,
            zstd::encode_all(&plain[..], 3).expect("zstd"),
        );
        roundtrip(Compression::None, plain);
    }
}
