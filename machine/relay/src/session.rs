//! The yamux configuration both halves use.

/// Streams one session may carry at once (each host connection is one).
pub(crate) const MAX_STREAMS: usize = 4096;

/// Streams the host keeps open at most; connections beyond wait for a slot
/// (yamux tears the whole session down when its limit is exceeded, and a
/// dropped stream leaves its table a little later than our counter).
pub(crate) const HOST_STREAM_LIMIT: usize = MAX_STREAMS - 96;

/// Largest data frame sent: bigger frames mean fewer headers and wake-ups
/// on a fast pipe (yamux's default is 16 KiB).
const SPLIT_SEND_SIZE: usize = 64 * 1024;

/// Receive window across all streams of a session. Stream windows start at
/// yamux's 256 KiB and grow with the measured bandwidth-delay product.
const CONNECTION_WINDOW: usize = 1024 * 1024 * 1024;

/// Buffer sizes on the port: yamux reads a 12-byte header, then the body,
/// and writes them separately; on a virtio-serial port every syscall is a
/// trip through the hypervisor, so reads and writes are batched (writes
/// until yamux flushes, which it does whenever it runs out of frames).
const PORT_BUFFER: usize = 256 * 1024;

/// `port` with read and write buffers.
pub(crate) fn buffered<P: tokio::io::AsyncRead + tokio::io::AsyncWrite>(
    port: P,
) -> tokio::io::BufStream<P> {
    tokio::io::BufStream::with_capacity(PORT_BUFFER, PORT_BUFFER, port)
}

/// The yamux configuration of both halves.
pub(crate) fn config() -> yamux::Config {
    let mut config = yamux::Config::default();
    config
        .set_max_connection_receive_window(Some(CONNECTION_WINDOW))
        .set_max_num_streams(MAX_STREAMS)
        .set_split_send_size(SPLIT_SEND_SIZE);
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    const _: () = assert!(HOST_STREAM_LIMIT < MAX_STREAMS);

    #[test]
    fn config_accepts_its_limits() {
        // yamux asserts window >= 256 KiB * streams inside the setters.
        let config = config();
        assert!(format!("{config:?}").contains("4096"), "{config:?}");
    }
}
