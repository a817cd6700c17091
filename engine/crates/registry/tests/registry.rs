//! The client against a real registry (Debian's `docker-registry`, i.e.
//! distribution 2.8) on 127.0.0.1: plain HTTP (after the https attempt
//! fails), basic auth, digest verification, not-found errors, mirrors.

#![allow(clippy::unwrap_used)]

mod support;

use futures_util::StreamExt as _;
use skiff_oci::documents::{Index, OCI_INDEX, OCI_MANIFEST};
use skiff_oci::{Digest, Hasher, Platform, Reference};
use skiff_registry::{
    Credentials, ErrorKind, RegistryClient, RegistryConfig, RegistryError, Repository,
};
use support::{Pusher, TestImage, TestRegistry, free_port, index_of};

fn client() -> RegistryClient {
    RegistryClient::new(RegistryConfig::default()).unwrap()
}

fn reference(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

/// A fresh open registry holding one image (`seed`, `size` bytes per layer)
/// at `repo:v1`.
/// The base URLs `client` would try for `r`, in order.
fn endpoint_urls(client: &RegistryClient, r: &Reference) -> Vec<String> {
    client
        .endpoints(r)
        .iter()
        .map(|e| e.url().to_owned())
        .collect()
}

async fn registry_with(repo: &str, seed: u64, size: usize) -> (TestRegistry, TestImage) {
    let registry = TestRegistry::start(None).await;
    let image = TestImage::new(seed, "amd64", size);
    Pusher::new(&registry, None).image(repo, "v1", &image).await;
    (registry, image)
}

/// Download a blob through the stream API and hash it.
async fn stream_blob(repository: &Repository, digest: &Digest) -> (Option<u64>, Vec<u8>, Digest) {
    let mut blob = repository.blob(digest).await.unwrap();
    let mut hasher = Hasher::new();
    let mut bytes = Vec::new();
    while let Some(chunk) = blob.body.next().await {
        let chunk = chunk.unwrap();
        hasher.update(&chunk);
        bytes.extend_from_slice(&chunk);
    }
    (blob.size, bytes, hasher.finish())
}

#[tokio::test]
async fn pulls_manifests_indexes_and_blobs_over_plain_http() {
    let registry = TestRegistry::start(None).await;
    let pusher = Pusher::new(&registry, None);
    let amd64 = TestImage::new(1, "amd64", 300 * 1024);
    let arm64 = TestImage::new(2, "arm64", 1000);
    pusher.image("skiff/tiny", "v1", &amd64).await;
    pusher.image("skiff/tiny", "arm", &arm64).await;
    let index = index_of(&[(&amd64, "amd64", None), (&arm64, "arm64", Some("v8"))]);
    pusher
        .manifest("skiff/tiny", "multi", OCI_INDEX, &index)
        .await;

    let client = client();
    let host = &registry.host;
    let r = reference(&format!("{host}/skiff/tiny:v1"));
    let endpoints = endpoint_urls(&client, &r);
    assert_eq!(
        endpoints,
        [format!("https://{host}"), format!("http://{host}")]
    );

    // By tag: https fails (plain HTTP server), http answers.
    let (repo, manifest) = client.pull_manifest(&r, None).await.unwrap();
    assert_eq!(repo.endpoint().url(), format!("http://{host}"));
    assert_eq!(repo.name(), "skiff/tiny");
    assert_eq!(manifest.media_type, OCI_MANIFEST);
    assert_eq!(manifest.digest, amd64.manifest_digest());
    assert_eq!(&manifest.bytes[..], &amd64.manifest[..]);

    // By digest, through the repository and through a digest reference.
    let by_digest = repo
        .manifest(&amd64.manifest_digest().to_string())
        .await
        .unwrap();
    assert_eq!(by_digest, manifest);
    let pinned = reference(&format!("{host}/skiff/tiny@{}", amd64.manifest_digest()));
    let (_, pinned_manifest) = client.pull_manifest(&pinned, None).await.unwrap();
    assert_eq!(pinned_manifest.digest, amd64.manifest_digest());

    // An index, and platform selection in it.
    let (repo, fetched) = client
        .pull_manifest(&reference(&format!("{host}/skiff/tiny:multi")), None)
        .await
        .unwrap();
    assert_eq!(fetched.media_type, OCI_INDEX);
    assert_eq!(fetched.digest, Digest::of(&index));
    let parsed: Index = serde_json::from_slice(&fetched.bytes).unwrap();
    let pick = |p: &str| {
        skiff_oci::platform::select(&parsed.manifests, &Platform::parse(p).unwrap())
            .map(|d| d.digest.clone())
    };
    assert_eq!(pick("linux/amd64"), Some(amd64.manifest_digest()));
    assert_eq!(pick("linux/arm64"), Some(arm64.manifest_digest()));
    let child = repo
        .manifest(&arm64.manifest_digest().to_string())
        .await
        .unwrap();
    assert_eq!(&child.bytes[..], &arm64.manifest[..]);

    // Small blobs, verified and bounded.
    let config = repo
        .blob_bytes(&amd64.config_digest(), 1024 * 1024)
        .await
        .unwrap();
    assert_eq!(&config[..], &amd64.config[..]);
    let too_small = repo
        .blob_bytes(&amd64.config_digest(), 10)
        .await
        .unwrap_err();
    assert!(
        matches!(too_small, RegistryError::TooLarge { limit: 10, .. }),
        "{too_small}"
    );
    assert_eq!(too_small.kind(), ErrorKind::Integrity);

    // A streamed layer.
    let (size, bytes, digest) = stream_blob(&repo, &amd64.layer_digest()).await;
    assert_eq!(size, Some(amd64.layer.len() as u64));
    assert_eq!(bytes, amd64.layer);
    assert_eq!(digest, amd64.layer_digest());

    // Many concurrent downloads from the same registry.
    let downloads = (0..16).map(|i| {
        let repo = repo.clone();
        let image = if i % 2 == 0 {
            amd64.clone()
        } else {
            arm64.clone()
        };
        async move {
            let (_, _, digest) = stream_blob(&repo, &image.layer_digest()).await;
            assert_eq!(digest, image.layer_digest());
            let config = repo
                .blob_bytes(&image.config_digest(), 1 << 20)
                .await
                .unwrap();
            assert_eq!(&config[..], &image.config[..]);
        }
    });
    futures_util::future::join_all(downloads).await;
}

#[tokio::test]
async fn missing_content_is_not_found_with_the_registry_message() {
    let (registry, _image) = registry_with("skiff/tiny", 3, 100).await;
    let client = client();
    let host = &registry.host;

    let missing_tag = client
        .pull_manifest(&reference(&format!("{host}/skiff/tiny:nope")), None)
        .await
        .unwrap_err();
    assert!(missing_tag.is_not_found(), "{missing_tag:?}");
    assert_eq!(missing_tag.status().map(|s| s.as_u16()), Some(404));
    assert_eq!(missing_tag.errors()[0].code, "MANIFEST_UNKNOWN");
    assert_eq!(
        missing_tag.to_string(),
        "manifest unknown: manifest unknown"
    );
    assert_eq!(
        missing_tag.url(),
        Some(format!("http://{host}/v2/skiff/tiny/manifests/nope").as_str())
    );

    let missing_repo = client
        .pull_manifest(&reference(&format!("{host}/skiff/none:v1")), None)
        .await
        .unwrap_err();
    assert!(missing_repo.is_not_found(), "{missing_repo:?}");
    assert!(
        ["NAME_UNKNOWN", "MANIFEST_UNKNOWN"].contains(&missing_repo.errors()[0].code.as_str()),
        "{missing_repo:?}"
    );

    let (repo, _) = client
        .pull_manifest(&reference(&format!("{host}/skiff/tiny:v1")), None)
        .await
        .unwrap();
    let missing_digest = repo
        .manifest(&Digest::of(b"nothing").to_string())
        .await
        .unwrap_err();
    assert!(missing_digest.is_not_found(), "{missing_digest:?}");
    let missing_blob = repo.blob(&Digest::of(b"nothing")).await.unwrap_err();
    assert!(missing_blob.is_not_found(), "{missing_blob:?}");
    assert!(!missing_blob.is_transport() && !missing_blob.is_unauthorized());
}

#[tokio::test]
async fn digest_verification_catches_a_lying_registry() {
    let (registry, image) = registry_with("skiff/tiny", 4, 100).await;
    let client = client();
    let (repo, _) = client
        .pull_manifest(
            &reference(&format!("{}/skiff/tiny:v1", registry.host)),
            None,
        )
        .await
        .unwrap();

    // Corrupt the stored config and manifest, keeping their sizes.
    let tamper = |digest: &Digest, from: &str, to: &str| {
        let path = registry.blob_path(digest);
        let stored = std::fs::read_to_string(&path).unwrap();
        assert!(stored.contains(from), "{stored}");
        std::fs::write(&path, stored.replacen(from, to, 1)).unwrap();
    };
    tamper(&image.config_digest(), "amd64", "arm64");
    tamper(&image.manifest_digest(), "tar+gzip", "tar+zstd");

    let lie = repo
        .blob_bytes(&image.config_digest(), 1 << 20)
        .await
        .unwrap_err();
    match &lie {
        RegistryError::DigestMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, &image.config_digest());
            assert_ne!(actual, expected);
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    assert_eq!(lie.kind(), ErrorKind::Integrity);

    // The stream API leaves verification to the caller, who sees the lie.
    let (_, _, streamed) = stream_blob(&repo, &image.config_digest()).await;
    assert_ne!(streamed, image.config_digest());

    // Manifests by digest are verified; by tag, against Docker-Content-Digest.
    let by_digest = repo.manifest(&image.manifest_digest().to_string()).await;
    assert!(
        matches!(by_digest, Err(RegistryError::DigestMismatch { .. })),
        "{by_digest:?}\n{}",
        registry.log()
    );
    let by_tag = repo.manifest("v1").await;
    assert!(
        matches!(by_tag, Err(RegistryError::DigestMismatch { .. })),
        "{by_tag:?}"
    );
}

#[tokio::test]
async fn basic_auth_with_and_without_credentials() {
    let registry = TestRegistry::start(Some(("alice", "s3cret"))).await;
    let image = TestImage::new(5, "amd64", 2000);
    Pusher::new(&registry, Some(("alice", "s3cret")))
        .image("private/app", "v1", &image)
        .await;
    let client = client();
    let host = &registry.host;
    let r = reference(&format!("{host}/private/app:v1"));

    let good = Credentials::basic("alice", "s3cret");
    let (repo, manifest) = client.pull_manifest(&r, Some(good.clone())).await.unwrap();
    assert_eq!(manifest.digest, image.manifest_digest());
    let (_, _, digest) = stream_blob(&repo, &image.layer_digest()).await;
    assert_eq!(digest, image.layer_digest());
    assert_eq!(
        &repo
            .blob_bytes(&image.config_digest(), 1 << 20)
            .await
            .unwrap()[..],
        &image.config[..]
    );

    let anonymous = client.pull_manifest(&r, None).await.unwrap_err();
    assert!(anonymous.is_unauthorized(), "{anonymous:?}");
    assert_eq!(anonymous.status().map(|s| s.as_u16()), Some(401));
    assert_eq!(
        anonymous.to_string(),
        "unauthorized: authentication required"
    );

    let wrong = client
        .pull_manifest(&r, Some(Credentials::basic("alice", "nope")))
        .await
        .unwrap_err();
    assert!(wrong.is_unauthorized(), "{wrong:?}");
    assert_eq!(wrong.to_string(), "unauthorized: authentication required");

    // Other callers' credentials never leak into an anonymous session.
    let again = client.pull_manifest(&r, None).await.unwrap_err();
    assert!(again.is_unauthorized());

    assert_eq!(
        client.login(host, &good).await.unwrap().identity_token,
        None
    );
    assert_eq!(
        client
            .login(&format!("http://{host}/"), &good)
            .await
            .unwrap()
            .identity_token,
        None
    );
    let refused = client
        .login(host, &Credentials::basic("alice", "nope"))
        .await
        .unwrap_err();
    assert!(refused.is_unauthorized(), "{refused:?}");
    assert_eq!(
        refused.to_string(),
        format!("login attempt to http://{host}/v2/ failed with status: 401 Unauthorized")
    );
}

#[tokio::test]
async fn login_to_an_open_registry_succeeds() {
    let registry = TestRegistry::start(None).await;
    let outcome = client()
        .login(&registry.host, &Credentials::basic("anyone", "anything"))
        .await
        .unwrap();
    assert_eq!(outcome.identity_token, None);
}

#[tokio::test]
async fn docker_hub_references_fall_back_across_mirrors() {
    let (registry, image) = registry_with("library/tiny", 6, 5000).await;

    let dead = format!("http://127.0.0.1:{}", free_port());
    let live = registry.url();
    let client = RegistryClient::new(RegistryConfig {
        mirrors: vec![dead.clone(), format!("{live}/")],
        insecure: vec![],
        read_timeout: None,
    })
    .unwrap();
    let r = reference("tiny:v1");
    let endpoints = endpoint_urls(&client, &r);
    assert_eq!(
        endpoints,
        [
            dead,
            live.clone(),
            "https://registry-1.docker.io".to_owned()
        ]
    );

    let (repo, manifest) = client.pull_manifest(&r, None).await.unwrap();
    assert_eq!(repo.endpoint().url(), live);
    assert!(repo.endpoint().is_mirror());
    assert_eq!(repo.name(), "library/tiny");
    assert_eq!(manifest.digest, image.manifest_digest());
    let (_, _, digest) = stream_blob(&repo, &image.layer_digest()).await;
    assert_eq!(digest, image.layer_digest());
}
