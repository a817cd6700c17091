//! Bridges between async byte streams and the blocking readers/writers that
//! tar, gzip and zstd need. The blocking side runs in `spawn_blocking`.

use std::io::{self, Read, Write};

use bytes::Bytes;
use tokio::sync::mpsc;

/// Channel depth in chunks between the async and blocking sides.
pub const DEPTH: usize = 32;

/// A blocking [`Read`] over chunks sent from async code. An `Err` chunk is
/// returned to the reader as an I/O error; a closed channel is EOF.
#[derive(Debug)]
pub struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl ChannelReader {
    /// A reader and the sender that feeds it.
    pub fn new() -> (mpsc::Sender<io::Result<Bytes>>, Self) {
        let (tx, rx) = mpsc::channel(DEPTH);
        (
            tx,
            Self {
                rx,
                current: Bytes::new(),
            },
        )
    }
}

impl ChannelReader {
    /// A reader over the chunks of an existing receiver (a tar streamed by
    /// a container's archive, read by blocking code).
    pub fn from_receiver(rx: mpsc::Receiver<io::Result<Bytes>>) -> Self {
        Self {
            rx,
            current: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// A blocking [`Write`] whose bytes become chunks of an async stream (for
/// response bodies produced by blocking code, e.g. `docker save`). Writes
/// fail with `BrokenPipe` once the receiving side is gone.
#[derive(Debug)]
pub struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

/// Chunk size of [`ChannelWriter`].
const CHUNK: usize = 256 * 1024;

impl ChannelWriter {
    /// A writer and the receiver of its chunks.
    pub fn new() -> (Self, mpsc::Receiver<io::Result<Bytes>>) {
        let (tx, rx) = mpsc::channel(DEPTH);
        (
            Self {
                tx,
                buf: Vec::with_capacity(CHUNK),
            },
            rx,
        )
    }

    /// Pass an error to the reading side (it ends the stream with it).
    pub fn fail(self, e: io::Error) {
        let _ = self.tx.blocking_send(Err(e));
    }

    fn send_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send_buf()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buf()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.send_buf();
    }
}

/// Turn a chunk receiver into a `Stream` (for response bodies).
pub fn receiver_stream<T: Send + 'static>(
    rx: mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + Sync {
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn reader_sees_chunks_then_eof_or_error() {
        let (tx, mut r) = ChannelReader::new();
        let reader = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let res = r.read_to_end(&mut out);
            (out, res.map_err(|e| e.to_string()))
        });
        tx.send(Ok(Bytes::from_static(b"hello ")))
            .await
            .expect("send");
        tx.send(Ok(Bytes::from_static(b"world")))
            .await
            .expect("send");
        tx.send(Err(io::Error::other("network broke")))
            .await
            .expect("send");
        let (out, res) = reader.await.expect("join");
        assert_eq!(out, b"hello world");
        assert_eq!(res, Err("network broke".to_owned()));
    }

    #[tokio::test]
    async fn writer_chunks_reach_the_stream() {
        let (mut w, rx) = ChannelWriter::new();
        let writer = tokio::task::spawn_blocking(move || {
            for _ in 0..1000 {
                w.write_all(&[7u8; 1000]).expect("write");
            }
        });
        let chunks: Vec<_> = receiver_stream(rx).collect().await;
        writer.await.expect("join");
        let total: usize = chunks.iter().map(|c| c.as_ref().expect("ok").len()).sum();
        assert_eq!(total, 1_000_000);
    }
}
