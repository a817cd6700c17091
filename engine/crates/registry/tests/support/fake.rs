//! In-process fake servers: hyper on a 127.0.0.1 listener answering every
//! request with one handler, for what a real registry does not do on
//! demand.

use std::convert::Infallible;
use std::future::Future;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Answer every connection `listener` accepts with `handle`, each on its
/// own task, until accepting fails (so: for the test's life).
pub async fn serve<F, Fut>(listener: TcpListener, handle: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let reply = handle(req);
                async move { Ok::<_, Infallible>(reply.await) }
            });
            // The client's https attempt is garbage to this server; ignore.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Serve `handle` in the background on a new 127.0.0.1 listener; returns
/// its `127.0.0.1:<port>`.
pub async fn spawn<F, Fut>(handle: F) -> String
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let host = listener.local_addr().expect("local addr").to_string();
    tokio::spawn(serve(listener, handle));
    host
}
