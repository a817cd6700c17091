//! The fixture images and test registries, checked against the real
//! docker-registry (no skiffd needed).

use std::io::Read;
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};
use skiff_e2e::registry::registry_bin;
use skiff_e2e::token::{self, Access};
use skiff_e2e::{Registry, seed};

const MT_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MT_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MT_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MT_V2S2: &str = "application/vnd.docker.distribution.manifest.v2+json";
const MT_V2S2_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const MT_V2S2_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const MT_OCI_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const MT_OCI_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const MT_OCI_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

struct Fetched {
    status: u16,
    content_type: String,
    digest_header: String,
    www_authenticate: String,
    body: Vec<u8>,
}

impl Fetched {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

async fn get(client: &reqwest::Client, url: &str, auth: Option<&str>) -> Fetched {
    let mut req = client.get(url).header("Accept", ACCEPT);
    if let Some(auth) = auth {
        req = req.header("Authorization", auth);
    }
    let resp = req.send().await.expect("registry request");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (content_type, digest_header, www_authenticate) = (
        header("content-type"),
        header("docker-content-digest"),
        header("www-authenticate"),
    );
    let status = resp.status().as_u16();
    let body = resp.bytes().await.expect("registry body").to_vec();
    Fetched {
        status,
        content_type,
        digest_header,
        www_authenticate,
        body,
    }
}

/// (manifest type, config type, layer type, layer count) per image.
fn expected(name: &str) -> (&'static str, &'static str, &'static str, usize) {
    match name {
        "library/busybox:latest" | "private/busybox:latest" => {
            (MT_V2S2, MT_V2S2_CONFIG, MT_V2S2_GZIP, 1)
        }
        "library/hello-world:latest" => (MT_V2S2, MT_V2S2_CONFIG, MT_V2S2_GZIP, 1),
        "library/whiteout:latest" => (MT_V2S2, MT_V2S2_CONFIG, MT_V2S2_GZIP, 3),
        "library/big:latest" => (MT_V2S2, MT_V2S2_CONFIG, MT_V2S2_GZIP, 5),
        "library/volume:latest" => (MT_V2S2, MT_V2S2_CONFIG, MT_V2S2_GZIP, 2),
        "library/alpine:3.10" | "library/oci:latest" => {
            (MT_OCI_MANIFEST, MT_OCI_CONFIG, MT_OCI_GZIP, 1)
        }
        "library/zstd:latest" => (MT_OCI_MANIFEST, MT_OCI_CONFIG, MT_OCI_ZSTD, 1),
        "library/plain:latest" => (MT_OCI_MANIFEST, MT_OCI_CONFIG, MT_OCI_TAR, 1),
        "library/multiarch:latest" => (MT_OCI_INDEX, "", "", 0),
        other => panic!("unexpected fixture image {other}"),
    }
}

/// Every image of images.json is served with the recorded digest and the
/// expected manifest, config and layer media types; every blob of the small
/// images has the content its digest says; skopeo agrees.
#[tokio::test]
async fn every_fixture_image_resolves_with_its_media_types() {
    let fixtures = seed();
    let images = fixtures.images();
    assert_eq!(images.len(), 11, "images.json: {images:?}");
    let registry = Registry::start();
    let client = reqwest::Client::new();
    for image in &images {
        let (mtype, ctype, ltype, nlayers) = expected(&image.name);
        let url = format!(
            "{}/v2/{}/manifests/{}",
            registry.url(),
            image.repository,
            image.tag
        );
        let got = get(&client, &url, None).await;
        assert_eq!(got.status, 200, "{}", image.name);
        assert_eq!(got.content_type, mtype, "{}", image.name);
        assert_eq!(image.media_type, mtype, "{}", image.name);
        assert_eq!(got.digest_header, image.digest, "{}", image.name);
        assert_eq!(sha256(&got.body), image.digest, "{}", image.name);
        let manifest = got.json();
        if mtype == MT_OCI_INDEX {
            assert_eq!(manifest["manifests"].as_array().map(Vec::len), Some(3));
            continue;
        }
        assert_eq!(manifest["config"]["mediaType"], ctype, "{}", image.name);
        let layers = manifest["layers"].as_array().expect("layers");
        assert_eq!(layers.len(), nlayers, "{}", image.name);
        let mut blobs: Vec<String> = vec![
            manifest["config"]["digest"]
                .as_str()
                .expect("config")
                .into(),
        ];
        for layer in layers {
            assert_eq!(layer["mediaType"], ltype, "{}", image.name);
            blobs.push(layer["digest"].as_str().expect("digest").into());
        }
        if image.name == "library/big:latest" {
            for layer in layers {
                assert!(
                    layer["size"].as_u64().expect("size") > 20 << 20,
                    "big layers are incompressible"
                );
            }
            continue;
        }
        for digest in blobs {
            let url = format!("{}/v2/{}/blobs/{digest}", registry.url(), image.repository);
            let blob = get(&client, &url, None).await;
            assert_eq!(blob.status, 200, "{}: {digest}", image.name);
            assert_eq!(sha256(&blob.body), digest, "{}: blob content", image.name);
        }
    }

    // skopeo resolves the tags too (and picks the amd64/arm64 instance of
    // the index as its platform).
    for name in [
        "library/busybox:latest",
        "library/zstd:latest",
        "library/multiarch:latest",
    ] {
        let out = Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--config"])
            .arg(format!("docker://{}", registry.image(name)))
            .output()
            .expect("running skopeo");
        assert!(
            out.status.success(),
            "skopeo inspect {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let config: Value = serde_json::from_slice(&out.stdout).expect("skopeo json");
        assert_eq!(config["os"], "linux", "{name}");
    }
}

fn gunzip_entries(data: &[u8]) -> Vec<String> {
    let mut tar_bytes = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut tar_bytes)
        .expect("gunzip layer");
    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    archive
        .entries()
        .expect("tar entries")
        .map(|e| {
            e.expect("tar entry")
                .path()
                .expect("path")
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// multiarch.json matches the served index (amd64, arm64/v8, attestation),
/// the per-arch configs are distinguishable, and library/whiteout's top
/// layer holds the hand-crafted whiteouts behind whiteout.expected.
#[tokio::test]
async fn multiarch_and_whiteout_fixtures_are_as_documented() {
    let fixtures = seed();
    let registry = Registry::start();
    let client = reqwest::Client::new();
    let base = format!("{}/v2", registry.url());

    let digests = fixtures.multiarch();
    assert_eq!(
        digests.index,
        fixtures.image("library/multiarch:latest").digest
    );
    let index = get(
        &client,
        &format!("{base}/library/multiarch/manifests/latest"),
        None,
    )
    .await;
    assert_eq!(index.digest_header, digests.index);
    let index = index.json();
    let entries = index["manifests"].as_array().expect("manifests");
    assert_eq!(entries[0]["digest"], digests.amd64.as_str());
    assert_eq!(entries[1]["digest"], digests.arm64.as_str());
    assert_eq!(entries[2]["digest"], digests.attestation.as_str());
    assert_eq!(entries[1]["platform"]["variant"], "v8");
    assert_eq!(entries[2]["platform"]["architecture"], "unknown");
    assert_eq!(
        entries[2]["annotations"]["vnd.docker.reference.type"],
        "attestation-manifest"
    );
    for (digest, arch) in [(&digests.amd64, "amd64"), (&digests.arm64, "arm64")] {
        let manifest = get(
            &client,
            &format!("{base}/library/multiarch/manifests/{digest}"),
            None,
        )
        .await;
        assert_eq!(manifest.content_type, MT_OCI_MANIFEST);
        let config_digest = manifest.json()["config"]["digest"]
            .as_str()
            .expect("config")
            .to_string();
        let config = get(
            &client,
            &format!("{base}/library/multiarch/blobs/{config_digest}"),
            None,
        )
        .await;
        let config = config.json();
        assert_eq!(config["architecture"], arch);
        let env = config["config"]["Env"].as_array().expect("Env");
        assert!(
            env.iter().any(|e| e == &format!("SKIFF_ARCH={arch}")[..]),
            "{env:?}"
        );
    }

    assert_eq!(
        fixtures.whiteout_expected(),
        [
            "/data",
            "/data/new",
            "/etc",
            "/etc/group",
            "/etc/keep",
            "/etc/passwd"
        ]
    );
    let manifest = get(
        &client,
        &format!("{base}/library/whiteout/manifests/latest"),
        None,
    )
    .await;
    let layers = manifest.json()["layers"]
        .as_array()
        .expect("layers")
        .clone();
    let mut contents = Vec::new();
    for layer in &layers[1..] {
        let digest = layer["digest"].as_str().expect("digest");
        let blob = get(
            &client,
            &format!("{base}/library/whiteout/blobs/{digest}"),
            None,
        )
        .await;
        contents.push(gunzip_entries(&blob.body));
    }
    assert_eq!(
        contents[0],
        [
            "etc/",
            "etc/gone",
            "etc/keep",
            "data/",
            "data/old1",
            "data/sub/",
            "data/sub/old2"
        ]
    );
    assert_eq!(
        contents[1],
        [
            "etc/",
            "etc/.wh.gone",
            "data/",
            "data/.wh..wh..opq",
            "data/new"
        ]
    );
}

/// The htpasswd registry answers 401 (Basic challenge) without or with
/// wrong credentials and 200 with the right ones.
#[tokio::test]
async fn htpasswd_registry_requires_credentials() {
    let registry = Registry::start_with_htpasswd("skiff", "s3cret");
    let client = reqwest::Client::new();
    let url = format!("{}/v2/private/busybox/manifests/latest", registry.url());
    let anonymous = get(&client, &url, None).await;
    assert_eq!(anonymous.status, 401);
    assert!(
        anonymous.www_authenticate.starts_with("Basic realm="),
        "{}",
        anonymous.www_authenticate
    );
    let wrong = client
        .get(&url)
        .basic_auth("skiff", Some("nope"))
        .send()
        .await
        .expect("request");
    assert_eq!(wrong.status().as_u16(), 401);
    let right = client
        .get(&url)
        .header("Accept", ACCEPT)
        .basic_auth("skiff", Some("s3cret"))
        .send()
        .await
        .expect("request");
    assert_eq!(right.status().as_u16(), 200);
    let body = right.bytes().await.expect("body");
    assert_eq!(sha256(&body), seed().image("private/busybox:latest").digest);
    assert_eq!(registry.credentials(), Some(("skiff", "s3cret")));
}

/// The token registry challenges with `Bearer realm=…,service=…`; a token
/// fetched from the in-process token server with basic credentials reads
/// the manifest; anonymous tokens and wrong credentials do not.
#[tokio::test]
async fn token_registry_accepts_tokens_from_the_token_server() {
    let registry = Registry::start_with_token_auth("skiff", "t0ken");
    let server = registry.token_server().expect("token server");
    let client = reqwest::Client::new();
    let url = format!("{}/v2/private/busybox/manifests/latest", registry.url());

    let challenge = get(&client, &url, None).await;
    assert_eq!(challenge.status, 401);
    let expected_prefix = format!(
        "Bearer realm=\"{}\",service=\"{}\"",
        server.realm(),
        token::SERVICE
    );
    assert!(
        challenge.www_authenticate.starts_with(&expected_prefix),
        "{}",
        challenge.www_authenticate
    );
    assert!(
        challenge
            .www_authenticate
            .contains("scope=\"repository:private/busybox:pull\"")
    );

    let scope = "repository:private/busybox:pull";
    let token_url = format!(
        "{}?service={}&scope={scope}",
        server.realm(),
        token::SERVICE
    );
    let resp = client
        .get(&token_url)
        .basic_auth("skiff", Some("t0ken"))
        .send()
        .await
        .expect("token request");
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = serde_json::from_slice(&resp.bytes().await.expect("body")).expect("json");
    assert_eq!(body["token"], body["access_token"]);
    assert_eq!(body["expires_in"], 300);
    let token = body["token"].as_str().expect("token").to_string();
    let authorized = get(&client, &url, Some(&format!("Bearer {token}"))).await;
    assert_eq!(
        authorized.status,
        200,
        "{}",
        String::from_utf8_lossy(&authorized.body)
    );
    assert_eq!(
        authorized.digest_header,
        seed().image("private/busybox:latest").digest
    );

    // The OAuth2 form (POST, password grant) works as well.
    let resp = client
        .post(server.realm())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=password&username=skiff&password=t0ken&service={}&scope={scope}&client_id=e2e",
            token::SERVICE
        ))
        .send()
        .await
        .expect("token request");
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = serde_json::from_slice(&resp.bytes().await.expect("body")).expect("json");
    let token = body["access_token"].as_str().expect("access_token");
    assert_eq!(
        get(&client, &url, Some(&format!("Bearer {token}")))
            .await
            .status,
        200
    );

    // No credentials: a token without access; wrong ones: 401.
    let resp = client.get(&token_url).send().await.expect("token request");
    let body: Value = serde_json::from_slice(&resp.bytes().await.expect("body")).expect("json");
    let token = body["token"].as_str().expect("token");
    assert_eq!(
        get(&client, &url, Some(&format!("Bearer {token}")))
            .await
            .status,
        401
    );
    let resp = client
        .get(&token_url)
        .basic_auth("skiff", Some("wrong"))
        .send()
        .await
        .expect("token request");
    assert_eq!(resp.status().as_u16(), 401);

    // A token for another repository does not open this one.
    let other = server
        .issue("skiff", &[Access::repository("library/busybox", &["pull"])])
        .expect("issue");
    assert_eq!(
        get(&client, &url, Some(&format!("Bearer {other}")))
            .await
            .status,
        401
    );
    assert!(server.tokens_issued() >= 4);
}

/// Each registry works on its own copy: deleting a manifest in one leaves
/// the seed (and the next registry) intact.
#[tokio::test]
async fn registries_do_not_share_state() {
    let digest = seed().image("library/busybox:latest").digest;
    let client = reqwest::Client::new();
    {
        let first = Registry::start();
        let url = format!("{}/v2/library/busybox/manifests/{digest}", first.url());
        let resp = client.delete(&url).send().await.expect("delete");
        assert_eq!(resp.status().as_u16(), 202, "{}", registry_bin().display());
        assert_eq!(get(&client, &url, None).await.status, 404);
    }
    let second = Registry::start();
    let url = format!("{}/v2/library/busybox/manifests/latest", second.url());
    let got = get(&client, &url, None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.digest_header, digest);
    let empty = Registry::start_empty();
    let url = format!("{}/v2/library/busybox/manifests/latest", empty.url());
    assert_eq!(get(&client, &url, None).await.status, 404);
}
