//! Pushing: against a real registry (`docker-registry`, distribution 2.8)
//! — upload, existence check, cross-repository mount, manifest put, basic
//! auth — and against a small in-process server for what a real registry
//! does not do on demand: an upload that fails and is retried, a registry
//! that refuses monolithic uploads, a chunk that breaks half way.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use skiff_oci::documents::OCI_MANIFEST;
use skiff_oci::{Digest, Reference};
use skiff_registry::{
    Credentials, Mount, PushRepository, RegistryClient, RegistryConfig, RegistryError,
    UPLOAD_ATTEMPTS, UploadObserver,
};
use support::{Pusher, TestImage, TestRegistry};

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

/// Upload `bytes` to `target` from a temp file; what the upload
/// reported, and its result.
async fn upload(
    target: &PushRepository,
    bytes: &[u8],
) -> (Arc<Recorder>, Result<(), RegistryError>) {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    let path = file.path().to_owned();
    let recorder = Arc::new(Recorder::default());
    let observer: Arc<dyn UploadObserver> = recorder.clone();
    let result = target
        .upload(
            &Digest::of(bytes),
            bytes.len() as u64,
            &move || std::fs::File::open(&path),
            None,
            &observer,
        )
        .await;
    (recorder, result)
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
    let recorder = upload_whole(&target, &bytes).await;
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
async fn uploads_in_chunks_to_a_real_registry() {
    let registry = TestRegistry::start(None).await;
    let target = client()
        .push_repository(
            &reference(&format!("{}/chunked/app", registry.host)),
            &[],
            None,
        )
        .await
        .unwrap()
        .with_chunk_size(700_000);
    let bytes: Vec<u8> = (0..(2u32 << 20)).map(|i| (i % 241) as u8).collect();
    let digest = Digest::of(&bytes);
    upload_whole(&target, &bytes).await;
    assert_eq!(
        std::fs::read(registry.blob_path(&digest)).unwrap(),
        bytes,
        "the registry holds the blob whole"
    );
}

#[tokio::test]
async fn pushes_with_basic_auth_and_reports_refusals() {
    let registry = TestRegistry::start(Some(("alice", "pw"))).await;
    let r = reference(&format!("{}/private/app", registry.host));
    let bytes = b"a small blob".to_vec();
    let digest = Digest::of(&bytes);

    let anonymous = client().push_repository(&r, &[], None).await.unwrap();
    let refused = upload(&anonymous, &bytes).await.1.unwrap_err();
    assert!(refused.is_unauthorized(), "{refused:?}");
    assert_eq!(refused.to_string(), "unauthorized: authentication required");

    let authed = client()
        .push_repository(&r, &[], Some(Credentials::basic("alice", "pw")))
        .await
        .unwrap();
    upload(&authed, &bytes).await.1.unwrap();
    assert!(authed.blob_exists(&digest).await.unwrap());
}

/// Upload `bytes` to a real registry's `target`: it succeeds, the blob is
/// then there, and the progress reported reached its size.
async fn upload_whole(target: &PushRepository, bytes: &[u8]) -> Arc<Recorder> {
    let (recorder, uploaded) = upload(target, bytes).await;
    uploaded.unwrap();
    assert!(target.blob_exists(&Digest::of(bytes)).await.unwrap());
    assert_eq!(
        recorder.sent.lock().unwrap().last().copied(),
        Some(bytes.len() as u64)
    );
    recorder
}

/// A registry whose first `failures` blob PUTs answer 500.
struct Flaky {
    failures: usize,
    puts: AtomicUsize,
    stored: Mutex<Vec<Bytes>>,
}

impl Flaky {
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Full<Bytes>> {
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
    let fake = Arc::new(Flaky {
        failures,
        puts: AtomicUsize::new(0),
        stored: Mutex::new(Vec::new()),
    });
    let server = fake.clone();
    let host = support::fake::spawn(move |req| server.clone().handle(req)).await;
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
    let (recorder, uploaded) = upload(&target, &bytes).await;
    uploaded.unwrap();
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
    let error = upload(&target, b"x").await.1.unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(fake.puts.load(Ordering::SeqCst), UPLOAD_ATTEMPTS as usize);
}

/// A registry that takes blobs in chunks only (a monolithic PUT is 413) and
/// breaks chunk number `fail_at` half way (keeping its first half, 500).
struct Chunky {
    fail_at: usize,
    patches: AtomicUsize,
    data: Mutex<Vec<u8>>,
    done: Mutex<Option<Digest>>,
}

impl Chunky {
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or_default().replace("%3A", ":");
        let reply = |status: StatusCode, received: Option<usize>| {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = status;
            if let Some(n) = received {
                let headers = r.headers_mut();
                headers.insert("location", "/v2/app/blobs/uploads/u1".parse().unwrap());
                headers.insert(
                    "range",
                    format!("0-{}", n.saturating_sub(1)).parse().unwrap(),
                );
            }
            r
        };
        let method = req.method().clone();
        let range = req
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once('-'))
            .and_then(|(a, _)| a.parse::<usize>().ok());
        let body = req.into_body().collect().await.unwrap().to_bytes();
        let mut data = self.data.lock().unwrap();
        match (method, path.as_str()) {
            (Method::GET, "/v2/") => reply(StatusCode::OK, None),
            (Method::POST, "/v2/app/blobs/uploads/") => reply(StatusCode::ACCEPTED, Some(0)),
            (Method::PUT, "/v2/app/blobs/uploads/u1") if !body.is_empty() => {
                reply(StatusCode::PAYLOAD_TOO_LARGE, None)
            }
            (Method::PATCH, "/v2/app/blobs/uploads/u1") => {
                if range != Some(data.len()) {
                    return reply(StatusCode::RANGE_NOT_SATISFIABLE, Some(data.len()));
                }
                let n = self.patches.fetch_add(1, Ordering::SeqCst) + 1;
                if n == self.fail_at {
                    data.extend_from_slice(&body[..body.len() / 2]);
                    return reply(StatusCode::INTERNAL_SERVER_ERROR, None);
                }
                data.extend_from_slice(&body);
                reply(StatusCode::ACCEPTED, Some(data.len()))
            }
            (Method::GET, "/v2/app/blobs/uploads/u1") => {
                reply(StatusCode::NO_CONTENT, Some(data.len()))
            }
            (Method::PUT, "/v2/app/blobs/uploads/u1") => {
                let digest = Digest::of(&data);
                if !query.contains(&digest.to_string()) {
                    return reply(StatusCode::BAD_REQUEST, None);
                }
                *self.done.lock().unwrap() = Some(digest);
                reply(StatusCode::CREATED, None)
            }
            _ => reply(StatusCode::NOT_FOUND, None),
        }
    }
}

#[tokio::test]
async fn a_refused_monolithic_upload_goes_in_chunks_and_a_broken_chunk_resumes() {
    let fake = Arc::new(Chunky {
        fail_at: 2,
        patches: AtomicUsize::new(0),
        data: Mutex::new(Vec::new()),
        done: Mutex::new(None),
    });
    let server = fake.clone();
    let host = support::fake::spawn(move |req| server.clone().handle(req)).await;
    let target = client()
        .push_repository(&reference(&format!("{host}/app")), &[], None)
        .await
        .unwrap()
        .with_retry_delay(Duration::from_millis(5));
    // 2.5 default chunks: the second PATCH breaks half way (1.5 chunks
    // kept), the third resumes there and sends the last full chunk.
    let size = skiff_registry::DEFAULT_CHUNK_SIZE * 5 / 2;
    let bytes: Vec<u8> = (0..size).map(|i| (i % 239) as u8).collect();
    let digest = Digest::of(&bytes);
    let (recorder, uploaded) = upload(&target, &bytes).await;
    uploaded.unwrap();
    assert_eq!(*fake.done.lock().unwrap(), Some(digest));
    assert!(
        *fake.data.lock().unwrap() == bytes,
        "the registry holds the blob whole"
    );
    assert_eq!(fake.patches.load(Ordering::SeqCst), 3);
    assert_eq!(recorder.retries.load(Ordering::SeqCst), 1);
}
