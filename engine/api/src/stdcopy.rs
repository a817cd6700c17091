//! docker's output streams (attach, logs, exec start): without a TTY,
//! multiplexed — each chunk behind an 8-byte header (stream id, three zero
//! bytes, big-endian length), moby's `stdcopy` format; with a TTY, the raw
//! bytes.

use bytes::Bytes;
use skiff_shim::protocol::{Frame, STREAM_STDERR, STREAM_STDOUT};

/// The content type of a stream, raw (TTY) or multiplexed.
pub fn content_type(raw: bool) -> &'static str {
    if raw {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

/// The content type dockerd names a hijacked or streamed answer with at
/// API `version`: before 1.42 always raw-stream (even over multiplexed
/// frames), from 1.42 on by the stream ([`content_type`]).
pub fn content_type_at(raw: bool, version: Option<&str>) -> &'static str {
    content_type(raw || crate::zero::version_below(version, 42))
}

/// One chunk of a stream: the payload as it is when `raw`, else behind the
/// header naming `stream` (1 stdout, 2 stderr).
pub fn frame(raw: bool, stream: u8, payload: &[u8]) -> Bytes {
    if raw {
        return Bytes::copy_from_slice(payload);
    }
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    Bytes::from(out)
}

/// The chunk of a stream that a shim output frame is (the shim's stream
/// ids are docker's); `None` for the exit frame, which ends the stream.
pub fn output(raw: bool, frame: &Frame) -> Option<Bytes> {
    match frame {
        Frame::Stdout(payload) => Some(self::frame(raw, STREAM_STDOUT, payload)),
        Frame::Stderr(payload) => Some(self::frame(raw, STREAM_STDERR, payload)),
        Frame::Exit(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_follow_dockers_stream_format() {
        assert_eq!(
            &frame(false, 1, b"hi")[..],
            &[1, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']
        );
        assert_eq!(&frame(false, 2, b"")[..], &[2, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&frame(true, 1, b"hi")[..], b"hi");
        assert_eq!(
            output(false, &Frame::Stderr(b"e".to_vec())).as_deref(),
            Some(&[2, 0, 0, 0, 0, 0, 0, 1, b'e'][..])
        );
        assert_eq!(
            output(true, &Frame::Stdout(b"o".to_vec())).as_deref(),
            Some(&b"o"[..])
        );
        assert_eq!(content_type(true), "application/vnd.docker.raw-stream");
        assert_eq!(
            content_type(false),
            "application/vnd.docker.multiplexed-stream"
        );
    }
}
