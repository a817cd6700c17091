//! Relaying one connection: bytes both ways, half-close propagated.

use tokio::io::{AsyncRead, AsyncWrite};

/// Buffer per direction: large enough that one syscall moves a lot.
const BUFFER: usize = 256 * 1024;

/// Copies `a` → `b` and `b` → `a` until both directions reached EOF; the
/// EOF of one side's reads becomes a shutdown of the other side's writes.
/// Errors (a reset stream, a closed socket) end the relay; dropping both
/// ends then closes them.
pub(crate) async fn relay<A, B>(mut a: A, mut b: B)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::io::copy_bidirectional_with_sizes(&mut a, &mut b, BUFFER, BUFFER).await {
        Ok((up, down)) => tracing::trace!(up, down, "relayed connection finished"),
        Err(err) => tracing::debug!("relayed connection ended: {err}"),
    }
}
