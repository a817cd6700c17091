//! Async reading of a shim's attach stream (feature `tokio`).
//!
//! An attach (or `exec` with `attach`) connection carries frames from the
//! shim — stream id, big-endian `u32` length, payload; see [`crate::protocol`]
//! — and raw stdin bytes to it. [`FrameCodec`] is the one decoder of that
//! format for async code: a `tokio_util` codec that refuses a payload over
//! its limit ([`MAX_FRAME_LEN`] by default) before buffering it, and reports
//! a stream that ends inside a frame. [`FrameReader`] reads typed
//! [`Frame`]s with it; [`AttachStream::into_async`] turns a blocking attach
//! stream into a frame reader and a stdin writer on tokio sockets.

use std::io;
use std::pin::Pin;

use bytes::{Buf, BytesMut};
use futures_core::Stream;
use tokio::io::AsyncRead;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::codec::{Decoder, Encoder, Framed, FramedParts};

use crate::client::AttachStream;
use crate::protocol::{
    FRAME_HEADER, Frame, FrameError, MAX_FRAME_LEN, check_frame_len, decode_frame_header,
};

/// Decoder (and encoder) of the shim's frames.
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    max_payload: usize,
}

impl FrameCodec {
    /// A codec refusing payloads over `max_payload` bytes.
    pub fn with_limit(max_payload: usize) -> Self {
        FrameCodec { max_payload }
    }
}

impl Default for FrameCodec {
    /// A codec with the protocol's limit, [`MAX_FRAME_LEN`].
    fn default() -> Self {
        FrameCodec::with_limit(MAX_FRAME_LEN)
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some(header) = src.get(..FRAME_HEADER) else {
            return Ok(None);
        };
        let mut h = [0u8; FRAME_HEADER];
        h.copy_from_slice(header);
        let (stream, len) = decode_frame_header(h);
        check_frame_len(len, self.max_payload)?;
        if src.len() < FRAME_HEADER + len {
            src.reserve(FRAME_HEADER + len - src.len());
            return Ok(None);
        }
        src.advance(FRAME_HEADER);
        let payload = src.split_to(len);
        Frame::decode(stream, payload.to_vec()).map(Some)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(FrameError::Truncated { pending: src.len() }),
        }
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        let mut out = Vec::new();
        frame.encode(&mut out);
        check_frame_len(out.len() - FRAME_HEADER, self.max_payload)?;
        dst.extend_from_slice(&out);
        Ok(())
    }
}

/// Typed frames read from an async byte stream.
///
/// [`FrameReader::next_frame`] is cancel-safe (a partial frame stays
/// buffered), so it can be one branch of a `tokio::select!`.
#[derive(Debug)]
pub struct FrameReader<R> {
    // `Framed` rather than `FramedRead`: only `Framed::from_parts` decodes
    // already-buffered bytes before reading again (a `FramedRead` whose
    // buffer was filled by hand would wait for new input first).
    inner: Framed<R, FrameCodec>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Reads frames from `reader`, refusing payloads over [`MAX_FRAME_LEN`].
    pub fn new(reader: R) -> Self {
        FrameReader::with_codec(reader, FrameCodec::default(), &[])
    }

    /// Reads frames from `buffered` (bytes of the stream already read from
    /// `reader`: the frames in it are returned without waiting for
    /// `reader`), then from `reader`.
    pub fn with_codec(reader: R, codec: FrameCodec, buffered: &[u8]) -> Self {
        let mut parts = FramedParts::<R, FrameCodec>::new::<Frame>(reader, codec);
        parts.read_buf = BytesMut::from(buffered);
        FrameReader {
            inner: Framed::from_parts(parts),
        }
    }

    /// The next frame; `Ok(None)` when the stream ended cleanly between
    /// frames. After an error the stream is unusable.
    pub async fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        std::future::poll_fn(|cx| Pin::new(&mut self.inner).poll_next(cx))
            .await
            .transpose()
    }

    /// The underlying reader (buffered bytes are dropped).
    pub fn into_inner(self) -> R {
        self.inner.into_inner()
    }
}

impl<R: AsyncRead + Unpin> Stream for FrameReader<R> {
    type Item = Result<Frame, FrameError>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

/// An attach stream on tokio sockets.
#[derive(Debug)]
pub struct AsyncAttach {
    /// The frames the shim sends.
    pub frames: FrameReader<OwnedReadHalf>,
    /// The process's stdin (raw bytes); shutting it down is the half-close
    /// that closes the process's stdin when the attach asked `close_stdin`.
    pub stdin: OwnedWriteHalf,
}

impl AttachStream {
    /// Moves the stream onto tokio (the one std→tokio conversion of a shim
    /// connection), keeping the frames already buffered. Must run inside a
    /// tokio runtime.
    pub fn into_async(self) -> io::Result<AsyncAttach> {
        let (sock, buffered) = self.into_inner();
        let (rd, wr) = to_tokio(sock)?.into_split();
        Ok(AsyncAttach {
            frames: FrameReader::with_codec(rd, FrameCodec::default(), &buffered),
            stdin: wr,
        })
    }
}

/// A blocking Unix socket as a tokio one (non-blocking, registered with the
/// current runtime).
pub fn to_tokio(sock: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
    sock.set_nonblocking(true)?;
    UnixStream::from_std(sock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExitStatus;
    use crate::protocol::{STREAM_STDOUT, encode_frame};
    use tokio::io::AsyncWriteExt;

    fn exit(code: i32) -> ExitStatus {
        ExitStatus {
            pid: 7,
            exit_code: code,
            signal: None,
            oom_killed: false,
            started_at: None,
            finished_at: "2024-01-01T00:00:00Z".into(),
        }
    }

    #[tokio::test]
    async fn a_frame_split_across_reads_is_read_whole() -> Result<(), Box<dyn std::error::Error>> {
        let (a, mut b) = tokio::io::duplex(64);
        let mut wire = Vec::new();
        encode_frame(STREAM_STDOUT, b"hello world", &mut wire);
        Frame::Exit(exit(3)).encode(&mut wire);
        let writer = tokio::spawn(async move {
            for byte in wire {
                b.write_all(&[byte]).await?;
                b.flush().await?;
                tokio::task::yield_now().await;
            }
            Ok::<_, io::Error>(())
        });
        let mut reader = FrameReader::new(a);
        assert_eq!(
            reader.next_frame().await?,
            Some(Frame::Stdout(b"hello world".to_vec()))
        );
        assert_eq!(reader.next_frame().await?, Some(Frame::Exit(exit(3))));
        writer.await??;
        assert_eq!(reader.next_frame().await?, None, "clean end");
        Ok(())
    }

    #[tokio::test]
    async fn buffered_bytes_come_first() -> Result<(), FrameError> {
        let mut wire = Vec::new();
        encode_frame(STREAM_STDOUT, b"ab", &mut wire);
        encode_frame(STREAM_STDOUT, b"cd", &mut wire);
        // The first frame and half the second's header were read already.
        let (head, tail) = wire.split_at(9);
        let mut reader = FrameReader::with_codec(tail, FrameCodec::default(), head);
        assert_eq!(
            reader.next_frame().await?,
            Some(Frame::Stdout(b"ab".to_vec()))
        );
        assert_eq!(
            reader.next_frame().await?,
            Some(Frame::Stdout(b"cd".to_vec()))
        );
        assert_eq!(reader.next_frame().await?, None);
        Ok(())
    }

    #[tokio::test]
    async fn an_oversize_frame_is_refused_before_its_payload() {
        // Only the header: the payload is never sent, so a reader that
        // waited for it would hang instead of failing.
        let header: &[u8] = &[STREAM_STDOUT, 0x01, 0x00, 0x00, 0x01];
        let (a, _b) = tokio::io::duplex(64);
        let mut reader = FrameReader::with_codec(a, FrameCodec::default(), header);
        match reader.next_frame().await {
            Err(FrameError::TooLarge { len, max }) => {
                assert_eq!((len, max), (MAX_FRAME_LEN + 1, MAX_FRAME_LEN));
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        let mut small =
            FrameReader::with_codec(&b""[..], FrameCodec::with_limit(2), &[1, 0, 0, 0, 3]);
        assert!(matches!(
            small.next_frame().await,
            Err(FrameError::TooLarge { len: 3, max: 2 })
        ));
    }

    #[tokio::test]
    async fn eof_inside_a_frame_is_an_error() {
        let mut wire = Vec::new();
        encode_frame(STREAM_STDOUT, b"hello", &mut wire);
        wire.truncate(wire.len() - 2);
        let mut reader = FrameReader::new(&wire[..]);
        assert!(matches!(
            reader.next_frame().await,
            Err(FrameError::Truncated { pending: 8 })
        ));
        let mut reader = FrameReader::new(&wire[..3]);
        assert!(matches!(
            reader.next_frame().await,
            Err(FrameError::Truncated { pending: 3 })
        ));
    }

    #[test]
    fn the_encoder_writes_what_the_decoder_reads() -> Result<(), FrameError> {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        codec.encode(Frame::Stderr(b"e".to_vec()), &mut buf)?;
        codec.encode(Frame::Exit(exit(0)), &mut buf)?;
        assert_eq!(codec.decode(&mut buf)?, Some(Frame::Stderr(b"e".to_vec())));
        assert_eq!(codec.decode(&mut buf)?, Some(Frame::Exit(exit(0))));
        assert_eq!(codec.decode(&mut buf)?, None);
        assert!(matches!(
            FrameCodec::with_limit(0).encode(Frame::Stdout(b"x".to_vec()), &mut buf),
            Err(FrameError::TooLarge { len: 1, max: 0 })
        ));
        Ok(())
    }

    #[tokio::test]
    async fn an_attach_stream_moves_onto_tokio() -> Result<(), Box<dyn std::error::Error>> {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        let stream = AttachStream::from_socket(ours, "test".into())?;
        let mut wire = Vec::new();
        encode_frame(STREAM_STDOUT, b"out", &mut wire);
        Frame::Exit(exit(1)).encode(&mut wire);
        let mut theirs = to_tokio(theirs)?;
        theirs.write_all(&wire).await?;
        let mut attach = stream.into_async()?;
        attach.stdin.write_all(b"in").await?;
        attach.stdin.shutdown().await?;
        assert_eq!(
            attach.frames.next_frame().await?,
            Some(Frame::Stdout(b"out".to_vec()))
        );
        assert_eq!(
            attach.frames.next_frame().await?,
            Some(Frame::Exit(exit(1)))
        );
        let mut got = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut theirs, &mut got).await?;
        assert_eq!(got, b"in");
        Ok(())
    }
}
