//! A registry that misbehaves on purpose (issue 19 §4, "a broken
//! registry"): a small distribution-v2 server on 127.0.0.1 serving one tiny
//! image per repository, whose layer blob is served according to the
//! repository's [`BlobMode`] — hanging, dripping, lying about its digest,
//! truncated, redirecting in a loop, or failing with 503 a few times before
//! it recovers. Manifests and configs are always served correctly.
//!
//! Plain HTTP/1.1 (hyper), on a thread of its own; stopped on drop.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sha2::{Digest as _, Sha256};
use tokio::sync::oneshot;

use crate::error::{IoContext, Result};

/// How a repository's layer blob is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobMode {
    /// Correctly.
    Ok,
    /// The request is read, no answer ever comes.
    Hang,
    /// Correctly, `chunk` bytes at a time with `every` between them.
    Drip {
        /// Bytes per write.
        chunk: usize,
        /// The pause between writes.
        every: Duration,
    },
    /// Bytes of the same length that hash to something else.
    WrongDigest,
    /// The right `Content-Length`, half the bytes, then the connection
    /// closes.
    Truncated,
    /// `307` to the same blob URL, forever.
    RedirectLoop,
    /// `503` to the first `times` requests, then correctly.
    Fail5xx {
        /// Failures before the recovery.
        times: usize,
    },
}

/// One repository's image (its own layer, so no pull finds it already
/// there) and what it has been asked.
#[derive(Debug)]
struct Repo {
    mode: BlobMode,
    image: Image,
    layer_requests: AtomicUsize,
}

/// The image a repository serves.
#[derive(Debug)]
struct Image {
    manifest: Bytes,
    manifest_digest: String,
    config: Bytes,
    config_digest: String,
    layer: Bytes,
    layer_digest: String,
}

#[derive(Debug)]
struct State {
    repos: HashMap<String, Repo>,
}

/// A running broken registry; stopped on drop.
#[derive(Debug)]
pub struct BrokenRegistry {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    thread: Option<thread::JoinHandle<()>>,
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A layer tar holding `/data.bin` (256 KiB of pseudo-random bytes seeded
/// by `seed`).
fn layer_tar(seed: &str) -> Result<Vec<u8>> {
    let mut data = vec![0u8; 256 << 10];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in seed.bytes() {
        x = x.wrapping_mul(31).wrapping_add(u64::from(b));
    }
    for b in &mut data {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, "data.bin", &data[..])
        .io_context(|| "building the layer tar".to_string())?;
    tar.into_inner()
        .io_context(|| "building the layer tar".to_string())
}

fn image(seed: &str) -> Result<Image> {
    let layer = layer_tar(seed)?;
    let layer_digest = sha256(&layer);
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        "x86_64" => "amd64",
        other => other,
    };
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["/data.bin"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }))
    .map_err(std::io::Error::other)
    .io_context(|| "the image config".to_string())?;
    let config_digest = sha256(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest,
            "size": layer.len(),
        }],
    }))
    .map_err(std::io::Error::other)
    .io_context(|| "the image manifest".to_string())?;
    Ok(Image {
        manifest_digest: sha256(&manifest),
        manifest: manifest.into(),
        config_digest,
        config: config.into(),
        layer_digest,
        layer: layer.into(),
    })
}

type Body = BoxBody<Bytes, std::io::Error>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|e| match e {}).boxed()
}

fn status(code: StatusCode) -> Response<Body> {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = code;
    r
}

fn blob(bytes: Bytes, content_type: &str, digest: &str) -> Response<Body> {
    let mut r = Response::new(full(bytes));
    let h = r.headers_mut();
    h.insert("content-type", content_type.parse().expect("header value"));
    h.insert(
        "docker-content-digest",
        digest.parse().expect("header value"),
    );
    r
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    if path == "/v2/" || path == "/v2" {
        return status(StatusCode::OK);
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return status(StatusCode::NOT_FOUND);
    };
    let (repo_name, kind, reference) =
        match (rest.rsplit_once("/manifests/"), rest.rsplit_once("/blobs/")) {
            (Some((r, t)), _) => (r, "manifests", t),
            (None, Some((r, d))) => (r, "blobs", d),
            _ => return status(StatusCode::NOT_FOUND),
        };
    let Some(repo) = state.repos.get(repo_name) else {
        return status(StatusCode::NOT_FOUND);
    };
    let image = &repo.image;
    let head = req.method() == Method::HEAD;
    let answer = |bytes: &Bytes, ct: &str, digest: &str| {
        let mut r = blob(if head { Bytes::new() } else { bytes.clone() }, ct, digest);
        if head {
            r.headers_mut().insert(
                "content-length",
                bytes.len().to_string().parse().expect("header"),
            );
        }
        r
    };
    if kind == "manifests" {
        return answer(
            &image.manifest,
            "application/vnd.oci.image.manifest.v1+json",
            &image.manifest_digest,
        );
    }
    if reference == image.config_digest {
        return answer(
            &image.config,
            "application/octet-stream",
            &image.config_digest,
        );
    }
    if reference != image.layer_digest {
        return status(StatusCode::NOT_FOUND);
    }
    let n = repo.layer_requests.fetch_add(1, Ordering::SeqCst);
    let layer = image.layer.clone();
    match &repo.mode {
        BlobMode::Ok => answer(&layer, "application/octet-stream", &image.layer_digest),
        BlobMode::Fail5xx { times } if n < *times => status(StatusCode::SERVICE_UNAVAILABLE),
        BlobMode::Fail5xx { .. } => answer(&layer, "application/octet-stream", &image.layer_digest),
        BlobMode::Hang => {
            std::future::pending::<()>().await;
            status(StatusCode::OK)
        }
        BlobMode::Drip { chunk, every } => {
            let (chunk, every) = (*chunk, *every);
            let pieces: Vec<Bytes> = layer.chunks(chunk).map(Bytes::copy_from_slice).collect();
            let stream = futures_util::stream::iter(pieces).then(move |piece| async move {
                tokio::time::sleep(every).await;
                Ok::<_, std::io::Error>(Frame::data(piece))
            });
            let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
            r.headers_mut().insert(
                "content-length",
                layer.len().to_string().parse().expect("header"),
            );
            r
        }
        BlobMode::WrongDigest => {
            let mut bytes = layer.to_vec();
            // A byte of the file's content (after the 512-byte header).
            bytes[1000] ^= 0xff;
            answer(
                &bytes.into(),
                "application/octet-stream",
                &image.layer_digest,
            )
        }
        BlobMode::Truncated => {
            let half = layer.slice(..layer.len() / 2);
            let stream = futures_util::stream::iter([
                Ok::<_, std::io::Error>(Frame::data(half)),
                Err(std::io::Error::other("truncated on purpose")),
            ]);
            let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
            r.headers_mut().insert(
                "content-length",
                layer.len().to_string().parse().expect("header"),
            );
            r
        }
        BlobMode::RedirectLoop => {
            let mut r = status(StatusCode::TEMPORARY_REDIRECT);
            r.headers_mut()
                .insert("location", path.parse().expect("header"));
            r
        }
    }
}

impl BrokenRegistry {
    /// Starts a registry serving the image under each `(repository, mode)`.
    /// Panics on failure.
    pub fn start(repos: &[(&str, BlobMode)]) -> BrokenRegistry {
        match Self::try_start(repos) {
            Ok(r) => r,
            Err(e) => panic!("starting the broken registry: {e}"),
        }
    }

    /// [`BrokenRegistry::start`], returning the error.
    pub fn try_start(repos: &[(&str, BlobMode)]) -> Result<BrokenRegistry> {
        let mut served = HashMap::new();
        for (name, mode) in repos {
            served.insert(
                (*name).to_owned(),
                Repo {
                    mode: mode.clone(),
                    image: image(name)?,
                    layer_requests: AtomicUsize::new(0),
                },
            );
        }
        let state = Arc::new(State { repos: served });
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .io_context(|| "binding the broken registry".to_string())?;
        listener
            .set_nonblocking(true)
            .io_context(|| "binding the broken registry".to_string())?;
        let addr = listener
            .local_addr()
            .io_context(|| "binding the broken registry".to_string())?;
        let (stop_tx, mut stop_rx) = oneshot::channel();
        let served = state.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .io_context(|| "a runtime for the broken registry".to_string())?;
        let thread = thread::Builder::new()
            .name("broken-registry".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    loop {
                        let stream = tokio::select! {
                            accepted = listener.accept() => match accepted {
                                Ok((stream, _)) => stream,
                                Err(_) => continue,
                            },
                            _ = &mut stop_rx => break,
                        };
                        let state = served.clone();
                        tokio::spawn(async move {
                            let service = service_fn(move |req| {
                                let state = state.clone();
                                async move { Ok::<_, Infallible>(handle(state, req).await) }
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                });
            })
            .io_context(|| "starting the broken registry's thread".to_string())?;
        Ok(BrokenRegistry {
            addr,
            state,
            stop: Mutex::new(Some(stop_tx)),
            thread: Some(thread),
        })
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `127.0.0.1:PORT/<repo>:latest`.
    pub fn image(&self, repo: &str) -> String {
        format!("{}/{repo}:latest", self.host())
    }

    /// The digest (`sha256:…`) of `repo`'s layer blob.
    pub fn layer_digest(&self, repo: &str) -> Option<&str> {
        self.state
            .repos
            .get(repo)
            .map(|r| r.image.layer_digest.as_str())
    }

    /// How many times `repo`'s layer blob was asked for.
    pub fn layer_requests(&self, repo: &str) -> usize {
        self.state
            .repos
            .get(repo)
            .map_or(0, |r| r.layer_requests.load(Ordering::SeqCst))
    }
}

impl Drop for BrokenRegistry {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
