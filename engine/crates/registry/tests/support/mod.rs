//! Test support: a real `docker-registry` (Debian's distribution 2.8) on
//! 127.0.0.1, an image fixture, a minimal pusher speaking the
//! distribution API with plain reqwest, and in-process fake servers
//! ([`fake`]).

#![allow(dead_code, clippy::unwrap_used)]

pub mod fake;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use skiff_oci::Digest;
use skiff_oci::documents::{OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST};

/// Where CI installs Debian's `docker-registry` package.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A port nothing listens on (bound then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// A running `docker-registry serve`, killed on drop.
pub struct TestRegistry {
    child: Child,
    /// `127.0.0.1:<port>`.
    pub host: String,
    dir: tempfile::TempDir,
}

impl TestRegistry {
    /// Start a registry; with `htpasswd` credentials it demands basic auth.
    pub async fn start(htpasswd: Option<(&str, &str)>) -> Self {
        assert!(
            Path::new(REGISTRY_BIN).exists(),
            "{REGISTRY_BIN} is missing: these tests need Debian's `docker-registry` package (apt-get install docker-registry)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let host = format!("127.0.0.1:{}", free_port());
        let data = dir.path().join("data");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n",
            data.display()
        );
        if let Some((user, pass)) = htpasswd {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, pass])
                .output()
                .expect("run htpasswd (apache2-utils)");
            assert!(
                out.status.success(),
                "htpasswd failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).expect("write htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
                file.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("log file");
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log)
            .spawn()
            .expect("spawn docker-registry");
        let mut registry = Self { child, host, dir };
        registry.wait_ready().await;
        registry
    }

    async fn wait_ready(&mut self) {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().expect("poll registry") {
                panic!("docker-registry exited with {status}:\n{}", self.log());
            }
            if http.get(format!("{}/v2/", self.url())).send().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "docker-registry did not come up on {}:\n{}",
            self.host,
            self.log()
        );
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host)
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Where the registry stores a blob's bytes (to make it lie).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.dir.path().join(format!(
            "data/docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ))
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tiny single-layer OCI image.
#[derive(Clone)]
pub struct TestImage {
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
    pub manifest: Vec<u8>,
}

impl TestImage {
    /// An image whose layer is `layer_size` pseudo-random bytes from `seed`.
    pub fn new(seed: u64, architecture: &str, layer_size: usize) -> Self {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let layer: Vec<u8> = (0..layer_size)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let config = format!(
            r#"{{"architecture":"{architecture}","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}},"config":{{"Cmd":["/bin/sh"]}}}}"#,
            Digest::of(&layer)
        )
        .into_bytes();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{}","size":{}}},"layers":[{{"mediaType":"{OCI_LAYER_GZIP}","digest":"{}","size":{}}}]}}"#,
            Digest::of(&config),
            config.len(),
            Digest::of(&layer),
            layer.len()
        )
        .into_bytes();
        Self {
            config,
            layer,
            manifest,
        }
    }

    pub fn config_digest(&self) -> Digest {
        Digest::of(&self.config)
    }

    pub fn layer_digest(&self) -> Digest {
        Digest::of(&self.layer)
    }

    pub fn manifest_digest(&self) -> Digest {
        Digest::of(&self.manifest)
    }
}

/// An OCI index over `(image, architecture, variant)` entries.
pub fn index_of(entries: &[(&TestImage, &str, Option<&str>)]) -> Vec<u8> {
    let manifests: Vec<String> = entries
        .iter()
        .map(|(image, arch, variant)| {
            let variant = variant.map(|v| format!(r#","variant":"{v}""#)).unwrap_or_default();
            format!(
                r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{},"platform":{{"architecture":"{arch}","os":"linux"{variant}}}}}"#,
                image.manifest_digest(),
                image.manifest.len()
            )
        })
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
        manifests.join(",")
    )
    .into_bytes()
}

/// Pushes with plain HTTP requests (monolithic uploads).
pub struct Pusher {
    http: reqwest::Client,
    base: String,
    auth: Option<(String, String)>,
}

impl Pusher {
    pub fn new(registry: &TestRegistry, auth: Option<(&str, &str)>) -> Self {
        Self {
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            base: registry.url(),
            auth: auth.map(|(u, p)| (u.to_owned(), p.to_owned())),
        }
    }

    fn authed(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Some((u, p)) => request.basic_auth(u, Some(p)),
            None => request,
        }
    }

    /// `POST /v2/<name>/blobs/uploads/` then `PUT <location>&digest=…`.
    pub async fn blob(&self, name: &str, bytes: &[u8]) -> Digest {
        let digest = Digest::of(bytes);
        let started = self
            .authed(
                self.http
                    .post(format!("{}/v2/{name}/blobs/uploads/", self.base)),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(
            started.status(),
            202,
            "start upload: {:?}",
            started.text().await
        );
        let location = started.headers()["location"].to_str().unwrap().to_owned();
        let location = if location.starts_with("http") {
            location
        } else {
            format!("{}{location}", self.base)
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let put = self
            .authed(
                self.http
                    .put(format!("{location}{separator}digest={digest}")),
            )
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 201, "finish upload: {:?}", put.text().await);
        digest
    }

    /// `PUT /v2/<name>/manifests/<reference>`.
    pub async fn manifest(&self, name: &str, reference: &str, media_type: &str, bytes: &[u8]) {
        let put = self
            .authed(
                self.http
                    .put(format!("{}/v2/{name}/manifests/{reference}", self.base)),
            )
            .header("content-type", media_type)
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 201, "put manifest: {:?}", put.text().await);
    }

    /// Push an image's blobs and manifest under `tag`.
    pub async fn image(&self, name: &str, tag: &str, image: &TestImage) {
        self.blob(name, &image.config).await;
        self.blob(name, &image.layer).await;
        self.manifest(name, tag, OCI_MANIFEST, &image.manifest)
            .await;
    }
}
