//! Pushing: against a real registry (`docker-registry`, distribution 2.8)
//! — upload, existence check, cross-repository mount, manifest put, basic
//! auth — and against a small in-process server for what a real registry
//! does not do on demand: an upload that fails and is retried.

#![allow(clippy::unwrap_used)]

mod support;

use std::convert::Infallible;
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use skiff_oci::documents::OCI_MANIFEST;
use skiff_oci::{Digest, Reference};
use skiff_registry::{
    Credentials, Mount, RegistryClient, RegistryConfig, RegistryError, UPLOAD_ATTEMPTS,
    UploadObserver,
};
use support::{Pusher, TestImage, TestRegistry};
use tokio::net::TcpListener;

fn client() -> RegistryClient {
    RegistryClient::new(RegistryConfig::default()).unwrap()
}

fn reference(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

/// Records what an upload reports.
#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<u64>>,
    retries: AtomicUsize,
}

impl UploadObserver for Recorder {
    fn sent(&self, sent: u64) {
        self.sent.lock().unwrap().push(sent);
    }
    fn retrying(&self, _error: &RegistryError, _delay: Duration) {
        self.retries.fetch_add(1, Ordering::SeqCst);
    }
}

/// A temp file holding `bytes`.
fn blob_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    file
}

#[tokio::test]
async fn uploads_checks_mounts_and_puts_manifests_on_a_real_registry() {
    let registry = TestRegistry::start(None).await;
    let host = &registry.host;
    let image = TestImage::new(7, "amd64", 3 << 20);
    Pusher::new(&registry, None)
        .image("src/app", "v1", &image)
        .await;
    let client = client();
    let target = client
        .push_repository(
            &reference(&format!("{host}/dst/app")),
            &["src/app".to_owned()],
            None,
        )
        .await
        .unwrap();
    assert_eq!(target.endpoint().url(), format!("http://{host}"));

    // A new blob: unknown, uploaded streamed (progress up to its size),
    // then known.
    let bytes: Vec<u8> = (0..(2u32 << 20)).map(|i| (i % 253) as u8).collect();
    let digest = Digest::of(&bytes);
    assert!(!target.blob_exists(&digest).await.unwrap());
    let file = blob_file(&bytes);
    let path = file.path().to_owned();
    let recorder = Arc::new(Recorder::default());
    let observer: Arc<dyn UploadObserver> = recorder.clone();
    target
        .upload(
            &digest,
            bytes.len() as u64,
            &move || std::fs::File::open(&path),
            None,
            &observer,
        )
        .await
        .unwrap();
    assert!(target.blob_exists(&digest).await.unwrap());
    assert_eq!(
        recorder.sent.lock().unwrap().last().copied(),
        Some(bytes.len() as u64)
    );
    assert_eq!(recorder.retries.load(Ordering::SeqCst), 0);

    // The source's layer is mounted; a blob the source lacks is not.
    assert_eq!(
        target
            .mount(&image.layer_digest(), "src/app")
            .await
            .unwrap(),
        Mount::Mounted
    );
    assert!(target.blob_exists(&image.layer_digest()).await.unwrap());
    assert!(matches!(
        target
            .mount(&Digest::of(b"absent"), "src/app")
            .await
            .unwrap(),
        Mount::Started(_)
    ));
    target
        .mount(&image.config_digest(), "src/app")
        .await
        .unwrap();

    // The manifest goes up byte for byte and comes back with its digest.
    let digest = target
        .put_manifest("v2", OCI_MANIFEST, Bytes::from(image.manifest.clone()))
        .await
        .unwrap();
    assert_eq!(digest, image.manifest_digest());
    let (_, fetched) = client
        .pull_manifest(&reference(&format!("{host}/dst/app:v2")), None)
        .await
        .unwrap();
    assert_eq!(fetched.digest, digest);
    assert_eq!(&fetched.bytes[..], &image.manifest[..]);
}

#[tokio::test]
async fn pushes_with_basic_auth_and_reports_refusals() {
    let registry = TestRegistry::start(Some(("alice", "pw"))).await;
    let r = reference(&format!("{}/private/app", registry.host));
    let bytes = b"a small blob".to_vec();
    let digest = Digest::of(&bytes);
    let file = blob_file(&bytes);
    let path = file.path().to_owned();
    let open = move || std::fs::File::open(&path);
    let observer: Arc<dyn UploadObserver> = Arc::new(Recorder::default());

    let anonymous = client().push_repository(&r, &[], None).await.unwrap();
    let refused = anonymous
        .upload(&digest, bytes.len() as u64, &open, None, &observer)
        .await
        .unwrap_err();
    assert!(refused.is_unauthorized(), "{refused:?}");
    assert_eq!(refused.to_string(), "unauthorized: authentication required");

    let authed = client()
        .push_repository(&r, &[], Some(Credentials::basic("alice", "pw")))
        .await
        .unwrap();
    authed
        .upload(&digest, bytes.len() as u64, &open, None, &observer)
        .await
        .unwrap();
    assert!(authed.blob_exists(&digest).await.unwrap());
}

/// A registry whose first `failures` blob PUTs answer 500.
struct Flaky {
    failures: usize,
    puts: AtomicUsize,
    stored: Mutex<Vec<Bytes>>,
}

impl Flaky {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or_default().replace("%3A", ":");
        let reply = |status: StatusCode| {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = status;
            r
        };
        match (req.method().clone(), path.as_str()) {
            (Method::GET, "/v2/") => reply(StatusCode::OK),
            (Method::POST, "/v2/app/blobs/uploads/") => {
                let mut r = reply(StatusCode::ACCEPTED);
                // Relative, with a query of its own, as distribution does.
                r.headers_mut().insert(
                    "location",
                    "/v2/app/blobs/uploads/u1?_state=x".parse().unwrap(),
                );
                r
            }
            (Method::PUT, "/v2/app/blobs/uploads/u1") => {
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let n = self.puts.fetch_add(1, Ordering::SeqCst);
                if n < self.failures {
                    return reply(StatusCode::INTERNAL_SERVER_ERROR);
                }
                let digest = Digest::of(&body);
                if !query.contains("_state=x") || !query.contains(&digest.to_string()) {
                    return reply(StatusCode::BAD_REQUEST);
                }
                self.stored.lock().unwrap().push(body);
                reply(StatusCode::CREATED)
            }
            _ => reply(StatusCode::NOT_FOUND),
        }
    }
}

async fn flaky(failures: usize) -> (Arc<Flaky>, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let fake = Arc::new(Flaky {
        failures,
        puts: AtomicUsize::new(0),
        stored: Mutex::new(Vec::new()),
    });
    let server = fake.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let fake = server.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let fake = fake.clone();
                    async move { Ok::<_, Infallible>(fake.handle(req).await) }
                });
                // The client's https attempt is garbage to this server.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (fake, host)
}

#[tokio::test]
async fn a_failed_upload_is_retried_from_a_new_session() {
    let (fake, host) = flaky(UPLOAD_ATTEMPTS as usize - 1).await;
    let target = client()
        .push_repository(&reference(&format!("{host}/app")), &[], None)
        .await
        .unwrap()
        .with_retry_delay(Duration::from_millis(5));
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 7) as u8).collect();
    let digest = Digest::of(&bytes);
    let file = blob_file(&bytes);
    let path = file.path().to_owned();
    let recorder = Arc::new(Recorder::default());
    let observer: Arc<dyn UploadObserver> = recorder.clone();
    target
        .upload(
            &digest,
            bytes.len() as u64,
            &move || std::fs::File::open(&path),
            None,
            &observer,
        )
        .await
        .unwrap();
    assert_eq!(
        recorder.retries.load(Ordering::SeqCst),
        UPLOAD_ATTEMPTS as usize - 1
    );
    assert_eq!(fake.puts.load(Ordering::SeqCst), UPLOAD_ATTEMPTS as usize);
    assert_eq!(&fake.stored.lock().unwrap()[..], &[Bytes::from(bytes)]);
}

#[tokio::test]
async fn uploads_give_up_after_the_last_attempt() {
    let (fake, host) = flaky(usize::MAX).await;
    let target = client()
        .push_repository(&reference(&format!("{host}/app")), &[], None)
        .await
        .unwrap()
        .with_retry_delay(Duration::from_millis(5));
    let file = blob_file(b"x");
    let path = file.path().to_owned();
    let observer: Arc<dyn UploadObserver> = Arc::new(Recorder::default());
    let error = target
        .upload(
            &Digest::of(b"x"),
            1,
            &move || std::fs::File::open(&path),
            None,
            &observer,
        )
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(fake.puts.load(Ordering::SeqCst), UPLOAD_ATTEMPTS as usize);
}
