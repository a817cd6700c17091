//! The shim's attach stream (`skiff_shim::AttachStream`, a blocking socket)
//! moved onto the async runtime, for the relays of attach, websocket attach
//! and exec.

use skiff_shim::AttachStream;

/// The stream's socket, non-blocking and registered with tokio, split into
/// its read and write halves, and the bytes of the frame stream the shim
/// client had already read from it.
pub fn into_async(
    stream: AttachStream,
) -> std::io::Result<(
    tokio::net::unix::OwnedReadHalf,
    tokio::net::unix::OwnedWriteHalf,
    Vec<u8>,
)> {
    let (sock, buffered) = stream.into_inner();
    sock.set_nonblocking(true)?;
    let (rd, wr) = tokio::net::UnixStream::from_std(sock)?.into_split();
    Ok((rd, wr, buffered))
}
