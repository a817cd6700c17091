//! A TCP proxy whose downstream rate can be capped while it runs: the test
//! puts it between skiffd and its registry to slow one pull down enough to
//! photograph it in progress.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A proxy on 127.0.0.1 to `target`; stopped on drop.
#[derive(Debug)]
pub struct Throttle {
    addr: SocketAddr,
    rate: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Throttle {
    /// Starts the proxy (unthrottled) on a free port. Call inside a tokio
    /// runtime.
    pub async fn start(target: SocketAddr) -> std::io::Result<Throttle> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let rate = Arc::new(AtomicU64::new(0));
        let shared = rate.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let rate = shared.clone();
                tokio::spawn(async move {
                    if let Ok(upstream) = TcpStream::connect(target).await {
                        relay(client, upstream, rate).await;
                    }
                });
            }
        });
        Ok(Throttle { addr, rate, task })
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Caps what flows back from the target at `bytes_per_second` (0: no
    /// cap), for connections old and new.
    pub fn limit(&self, bytes_per_second: u64) {
        self.rate.store(bytes_per_second, Ordering::SeqCst);
    }
}

impl Drop for Throttle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Relays both ways; the target's answers at the current rate.
async fn relay(client: TcpStream, upstream: TcpStream, rate: Arc<AtomicU64>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut up_read, mut up_write) = upstream.into_split();
    let requests = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut up_write).await;
        let _ = up_write.shutdown().await;
    });
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match up_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if client_write.write_all(&buf[..n]).await.is_err() {
            break;
        }
        let rate = rate.load(Ordering::SeqCst);
        if rate > 0 {
            tokio::time::sleep(Duration::from_secs_f64(n as f64 / rate as f64)).await;
        }
    }
    let _ = client_write.shutdown().await;
    requests.abort();
}
