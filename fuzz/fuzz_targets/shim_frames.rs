//! The shim's attach frames (`skiff_shim::framed::FrameCodec`), as a
//! compromised or buggy shim could send them: decoding any byte stream, in
//! any chunking, yields frames or an error, never a panic nor a buffer over
//! the limit; every decoded output frame encodes back to the bytes it came from (an
//! exit frame to the same status).
#![no_main]

use arbitrary::Arbitrary;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use skiff_shim::framed::FrameCodec;
use skiff_shim::protocol::Frame;
use tokio_util::codec::{Decoder, Encoder};

/// A small limit, so the fuzzer reaches it.
const LIMIT: usize = 4096;

#[derive(Debug, Arbitrary)]
struct Input {
    /// Sizes of the chunks the stream arrives in.
    chunks: Vec<u8>,
    stream: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let mut codec = FrameCodec::with_limit(LIMIT);
    let mut buf = BytesMut::new();
    let mut rest = &input.stream[..];
    let mut sizes = input.chunks.iter().map(|&n| usize::from(n).max(1)).cycle();
    let mut consumed = 0usize;
    let mut failed = false;
    while !rest.is_empty() && !failed {
        let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            let before = buf.len();
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    let used = before - buf.len();
                    let mut out = BytesMut::new();
                    codec.encode(frame.clone(), &mut out).expect("re-encode");
                    if matches!(frame, Frame::Exit(_)) {
                        // JSON: the same value, not necessarily the same bytes.
                        let again = codec.decode(&mut out).expect("decode").expect("frame");
                        assert_eq!(again, frame);
                    } else {
                        assert_eq!(
                            &out[..],
                            &input.stream[consumed..consumed + used],
                            "a frame encodes to its bytes"
                        );
                    }
                    consumed += used;
                }
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        // Nothing beyond one header and one payload is ever reserved.
        assert!(
            buf.capacity() <= 2 * (LIMIT + 64) + 8192,
            "{}",
            buf.capacity()
        );
    }
    if !failed {
        let _ = codec.decode_eof(&mut buf);
    }
});
