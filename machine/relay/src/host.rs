//! The host's half: one yamux stream per accepted connection.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt, TokioAsyncReadCompatExt};

use crate::error::RelayError;
use crate::handshake;
use crate::pipe::relay;
use crate::port_host::PortForwarder;
use crate::session::{self, HOST_STREAM_LIMIT};

/// Pause after a failed accept (EMFILE, ...), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// A source of host connections: a Unix listener, a Windows named pipe
/// server loop feeding an `mpsc` channel, ...
pub trait Accept: Send {
    /// One accepted connection.
    type Conn: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Polls for the next connection. An error is treated as transient.
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Self::Conn>>;
}

#[cfg(unix)]
impl Accept for tokio::net::UnixListener {
    type Conn = tokio::net::UnixStream;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Self::Conn>> {
        tokio::net::UnixListener::poll_accept(self, cx).map(|r| r.map(|(stream, _)| stream))
    }
}

/// Connections handed over by another task (e.g. the loop that serves a
/// Windows named pipe). A closed channel is an error.
impl<C: AsyncRead + AsyncWrite + Unpin + Send + 'static> Accept for tokio::sync::mpsc::Receiver<C> {
    type Conn = C;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<C>> {
        self.poll_recv(cx).map(|c| {
            c.ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "connection channel closed"))
        })
    }
}

/// Serves `listener` over `port` until the session ends: each accepted
/// connection opens one yamux stream, which the guest connects to the
/// engine socket. Connections that arrive before the guest answered the
/// handshake wait in the listen backlog. Returns `Ok` when the port
/// reaches EOF (the VM went away); the connections being relayed are then
/// closed.
#[cfg(unix)]
pub async fn serve<P>(listener: tokio::net::UnixListener, port: P) -> Result<(), RelayError>
where
    P: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut listener = listener;
    serve_session(&mut listener, port).await
}

/// [`serve`] for any [`Accept`]or, which stays usable for the next session
/// (a supervisor reconnects to the port and calls this again).
pub async fn serve_session<A, P>(acceptor: &mut A, port: P) -> Result<(), RelayError>
where
    A: Accept,
    P: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    run_session(acceptor, port, None).await
}

/// [`serve_session`], with the ports the guest publishes forwarded by
/// `forwarder` for as long as the session lasts ([`crate::ports`]): its
/// listeners close when the session ends.
pub async fn serve_session_with_ports<A, P>(
    acceptor: &mut A,
    port: P,
    forwarder: &PortForwarder,
) -> Result<(), RelayError>
where
    A: Accept,
    P: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let session = run_session(acceptor, port, Some(rx));
    tokio::pin!(session);
    tokio::select! {
        result = &mut session => result,
        () = forwarder.run(Opener { tx }) => session.await,
    }
}

/// Asks the session for new streams.
#[derive(Debug, Clone)]
pub(crate) struct Opener {
    tx: tokio::sync::mpsc::UnboundedSender<oneshot::Sender<HostStream>>,
}

impl Opener {
    /// A new stream to the guest, once the session has a slot for it;
    /// `None` when the session ended.
    pub(crate) async fn open(&self) -> Option<HostStream> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(tx).ok()?;
        rx.await.ok()
    }
}

/// A stream the host opened for someone else than a `docker.sock` client;
/// counted in the session's stream limit while it lives.
pub(crate) struct HostStream {
    // Dropped first: see the relay task in `run_session`.
    _guard: OpenGuard,
    stream: Compat<yamux::Stream>,
}

impl std::fmt::Debug for HostStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostStream").finish_non_exhaustive()
    }
}

impl AsyncRead for HostStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for HostStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The session loop; `requests` are streams asked for by an [`Opener`].
async fn run_session<A, P>(
    acceptor: &mut A,
    port: P,
    mut requests: Option<OpenRequests>,
) -> Result<(), RelayError>
where
    A: Accept,
    P: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let port = session::buffered(handshake::host(port).await?);
    tracing::debug!("relay session started");
    let mut conn = yamux::Connection::new(port.compat(), session::config(), yamux::Mode::Client);
    let mut waiting: VecDeque<A::Conn> = VecDeque::new();
    let mut asked: VecDeque<oneshot::Sender<HostStream>> = VecDeque::new();
    let open = Arc::new(AtomicUsize::new(0));
    let mut backoff: Option<Pin<Box<tokio::time::Sleep>>> = None;
    poll_fn(|cx| {
        loop {
            // Take new connections while the queue is short.
            if let Some(sleep) = backoff.as_mut() {
                if sleep.as_mut().poll(cx).is_ready() {
                    backoff = None;
                }
            }
            while backoff.is_none() && waiting.len() < 64 {
                match acceptor.poll_accept(cx) {
                    Poll::Ready(Ok(c)) => waiting.push_back(c),
                    Poll::Ready(Err(err)) => {
                        tracing::warn!("accepting a host connection: {err}");
                        let mut sleep = Box::pin(tokio::time::sleep(ACCEPT_BACKOFF));
                        // Registers the wake-up.
                        let _ = sleep.as_mut().poll(cx);
                        backoff = Some(sleep);
                    }
                    Poll::Pending => break,
                }
            }
            // Streams asked for by the port forwarder come first.
            while asked.len() < 64 {
                let Some(rx) = requests.as_mut() else { break };
                match rx.poll_recv(cx) {
                    Poll::Ready(Some(reply)) => asked.push_back(reply),
                    Poll::Ready(None) => requests = None,
                    Poll::Pending => break,
                }
            }
            while !asked.is_empty() && open.load(Ordering::Acquire) < HOST_STREAM_LIMIT {
                match conn.poll_new_outbound(cx) {
                    Poll::Ready(Ok(stream)) => {
                        if let Some(reply) = asked.pop_front() {
                            open.fetch_add(1, Ordering::AcqRel);
                            let stream = HostStream {
                                _guard: OpenGuard(open.clone()),
                                stream: stream.compat(),
                            };
                            // An asker that went away drops the stream.
                            let _ = reply.send(stream);
                        }
                    }
                    Poll::Ready(Err(err)) => return Poll::Ready(Err(RelayError::from(err))),
                    Poll::Pending => break,
                }
            }
            // One stream per waiting connection, within the stream limit.
            while !waiting.is_empty() && open.load(Ordering::Acquire) < HOST_STREAM_LIMIT {
                match conn.poll_new_outbound(cx) {
                    Poll::Ready(Ok(stream)) => {
                        if let Some(client) = waiting.pop_front() {
                            open.fetch_add(1, Ordering::AcqRel);
                            let guard = OpenGuard(open.clone());
                            tokio::spawn(async move {
                                let mut stream = stream.compat();
                                let mut client = client;
                                // An empty frame carries the SYN now, so the
                                // guest dials the engine while the client is
                                // still writing (and even if it never does).
                                match stream.write(&[]).await {
                                    Ok(_) => relay(&mut client, &mut stream).await,
                                    Err(err) => tracing::debug!("opening a relay stream: {err}"),
                                }
                                // The count drops before the stream does:
                                // dropping the stream wakes the session,
                                // which then sees the free slot.
                                drop(guard);
                                drop(stream);
                            });
                        }
                    }
                    Poll::Ready(Err(err)) => return Poll::Ready(Err(RelayError::from(err))),
                    Poll::Pending => break,
                }
            }
            // Drive the session; the host accepts no streams from the guest.
            match conn.poll_next_inbound(cx) {
                Poll::Ready(Some(Ok(stream))) => {
                    tracing::warn!("the guest opened a relay stream; closing it");
                    drop(stream);
                }
                Poll::Ready(Some(Err(err))) => return Poll::Ready(Err(RelayError::from(err))),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                // A relay task that ends drops its stream, which wakes the
                // session: connections waiting for a slot get one then.
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await
}

/// Requests for streams from an [`Opener`].
type OpenRequests = tokio::sync::mpsc::UnboundedReceiver<oneshot::Sender<HostStream>>;

/// Counts a relayed connection while it lives.
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
