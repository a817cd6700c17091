//! A real `docker-registry` (distribution 2.8) per test.
//!
//! Each [`Registry`] serves a private copy of the fixture seed (blobs are
//! hard links — the registry never rewrites a blob file in place, it renames
//! uploads into place — and repository metadata is copied) on a free port of
//! 127.0.0.1, with plain HTTP, deletes enabled, and its log in its own temp
//! directory. It is killed on drop; when the test is panicking the tail of
//! its log is printed.
//!
//! Set `SKIFF_REGISTRY_BIN` to use another registry binary.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{HarnessError, IoContext, Result};
use crate::fixtures;
use crate::token::{self, TokenServer};
use crate::util;

/// Attempts at finding a free port before giving up.
const PORT_ATTEMPTS: usize = 5;
/// How long a registry may take to answer `GET /v2/`.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// How a registry authenticates clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryAuth {
    /// Anonymous read/write.
    None,
    /// HTTP basic auth against an htpasswd file (bcrypt, `htpasswd -Bbn`).
    Htpasswd {
        /// The one user.
        user: String,
        /// Its password.
        password: String,
    },
    /// Bearer tokens from an in-process [`TokenServer`] which checks these
    /// basic credentials.
    Token {
        /// The one user.
        user: String,
        /// Its password.
        password: String,
    },
}

/// A running docker-registry; killed on drop.
#[derive(Debug)]
pub struct Registry {
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    storage: PathBuf,
    log: PathBuf,
    port: u16,
    child: Option<Child>,
    auth: RegistryAuth,
    token_server: Option<TokenServer>,
}

/// The registry binary: `$SKIFF_REGISTRY_BIN`, `/usr/bin/docker-registry`,
/// or `docker-registry` on `PATH`.
pub fn registry_bin() -> PathBuf {
    util::find_program(
        "SKIFF_REGISTRY_BIN",
        &["/usr/bin/docker-registry"],
        "docker-registry",
    )
    .unwrap_or_else(|| PathBuf::from("docker-registry"))
}

impl Registry {
    /// An anonymous registry holding every fixture image. Panics on failure.
    pub fn start() -> Registry {
        Self::expect(Self::try_start(RegistryAuth::None, true))
    }

    /// An anonymous registry with no images (for push tests).
    pub fn start_empty() -> Registry {
        Self::expect(Self::try_start(RegistryAuth::None, false))
    }

    /// A registry holding the fixture images behind HTTP basic auth (the
    /// htpasswd file has one bcrypt entry for `user`).
    pub fn start_with_htpasswd(user: &str, password: &str) -> Registry {
        Self::expect(Self::try_start(
            RegistryAuth::Htpasswd {
                user: user.to_string(),
                password: password.to_string(),
            },
            true,
        ))
    }

    /// A registry holding the fixture images behind bearer-token auth, with
    /// its token server (see [`crate::token`]) accepting `user:password`.
    pub fn start_with_token_auth(user: &str, password: &str) -> Registry {
        Self::expect(Self::try_start(
            RegistryAuth::Token {
                user: user.to_string(),
                password: password.to_string(),
            },
            true,
        ))
    }

    fn expect(result: Result<Registry>) -> Registry {
        match result {
            Ok(registry) => registry,
            Err(err) => panic!("starting docker-registry: {err}"),
        }
    }

    /// Starts a registry with `auth`, seeded with the fixture images when
    /// `seeded`.
    pub fn try_start(auth: RegistryAuth, seeded: bool) -> Result<Registry> {
        let dir = util::tempdir("skiff-reg-")?;
        let root = dir.path().to_path_buf();
        let storage = root.join("storage");
        fs::create_dir_all(&storage).io_context(|| format!("creating {}", storage.display()))?;
        if seeded {
            let seed = fixtures::try_seed()?;
            copy_seed(&seed.registry_dir, &storage)?;
        }
        let mut token_server = None;
        let auth_yaml = match &auth {
            RegistryAuth::None => String::new(),
            RegistryAuth::Htpasswd { user, password } => {
                let htpasswd = root.join("htpasswd");
                write_htpasswd(&htpasswd, user, password)?;
                format!(
                    "auth:\n  htpasswd:\n    realm: skiff-registry\n    path: {}\n",
                    htpasswd.display()
                )
            }
            RegistryAuth::Token { user, password } => {
                let server = TokenServer::start(user, password)?;
                let bundle = root.join("token-root.pem");
                fs::write(&bundle, server.root_cert_pem())
                    .io_context(|| format!("writing {}", bundle.display()))?;
                let yaml = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    server.realm(),
                    token::SERVICE,
                    token::ISSUER,
                    bundle.display()
                );
                token_server = Some(server);
                yaml
            }
        };
        let log = root.join("registry.log");
        let mut registry = Registry {
            dir: Some(dir),
            root,
            storage,
            log,
            port: 0,
            child: None,
            auth,
            token_server,
        };
        registry.spawn(&auth_yaml)?;
        Ok(registry)
    }

    fn spawn(&mut self, auth_yaml: &str) -> Result<()> {
        let bin = registry_bin();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let port =
                util::free_port().io_context(|| "finding a free port on 127.0.0.1".to_string())?;
            let config = self.root.join("config.yml");
            fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: info\n  formatter: text\n\
                     storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                     http:\n  addr: 127.0.0.1:{port}\n  secret: skiff-e2e\n{auth_yaml}",
                    self.storage.display()
                ),
            )
            .io_context(|| format!("writing {}", config.display()))?;
            let log = File::options()
                .create(true)
                .append(true)
                .open(&self.log)
                .io_context(|| format!("opening {}", self.log.display()))?;
            let log_out = log
                .try_clone()
                .io_context(|| format!("duplicating the handle of {}", self.log.display()))?;
            let mut child = Command::new(&bin)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log_out)
                .stderr(log)
                .spawn()
                .io_context(|| {
                    format!(
                        "running {} (install it with scripts/install-deps.sh)",
                        bin.display()
                    )
                })?;
            match wait_ready(&mut child, port) {
                Ok(()) => {
                    self.port = port;
                    self.child = Some(child);
                    return Ok(());
                }
                Err(problem) => {
                    let _ = util::stop_child(&mut child, Duration::from_secs(2));
                    let log = util::tail(&self.log, 20);
                    // Lost the race for the port: try another one.
                    let retry = log.contains("address already in use") && attempts < PORT_ATTEMPTS;
                    if !retry {
                        return Err(HarnessError::NotReady {
                            program: bin.display().to_string(),
                            problem,
                            log,
                        });
                    }
                }
            }
        }
    }

    /// `127.0.0.1:PORT` (the registry host for image references and
    /// `--insecure-registry`).
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT` (for `--registry-mirror`).
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A fully qualified reference on this registry: `image("library/busybox:latest")`
    /// is `127.0.0.1:PORT/library/busybox:latest`.
    pub fn image(&self, name: &str) -> String {
        format!("{}/{name}", self.host())
    }

    /// The registry's storage directory (its `rootdirectory`).
    pub fn storage_dir(&self) -> &Path {
        &self.storage
    }

    /// The registry's log file (stdout and stderr, access log included).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// How the registry authenticates.
    pub fn auth(&self) -> &RegistryAuth {
        &self.auth
    }

    /// `(user, password)` for the htpasswd and token registries.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        match &self.auth {
            RegistryAuth::None => None,
            RegistryAuth::Htpasswd { user, password } | RegistryAuth::Token { user, password } => {
                Some((user, password))
            }
        }
    }

    /// The token server of a token-auth registry.
    pub fn token_server(&self) -> Option<&TokenServer> {
        self.token_server.as_ref()
    }

    /// `GET path` on the registry with extra headers (e.g.
    /// `("Authorization", "Bearer …")`).
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Result<util::HttpResponse> {
        util::http_get(&self.host(), path, headers)
    }

    /// Kills the registry now (e.g. to test an unreachable registry); it is
    /// not restarted.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = util::stop_child(&mut child, Duration::from_secs(5));
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if thread::panicking() {
            util::print_tail(&format!("docker-registry {}", self.host()), &self.log, 40);
        }
        self.stop();
        if util::keep_tmp() {
            if let Some(dir) = self.dir.take() {
                eprintln!("skiff-e2e: keeping registry dir {}", dir.keep().display());
            }
        }
    }
}

/// Waits for a just-started registry to answer `GET /v2/` on `port`; the
/// error says what went wrong instead (the caller adds the log).
fn wait_ready(child: &mut Child, port: u16) -> std::result::Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let addr = format!("127.0.0.1:{port}");
    loop {
        match child.try_wait() {
            Ok(None) => {}
            Ok(Some(status)) => return Err(format!("exited early ({status})")),
            Err(err) => {
                return Err(format!(
                    "could not be waited for (pid {}): {err}",
                    child.id()
                ));
            }
        }
        if let Ok(resp) = util::http_get(&addr, "/v2/", &[]) {
            if resp.status == 200 || resp.status == 401 {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "did not answer GET /v2/ on {addr} within {READY_TIMEOUT:?}"
            ));
        }
        thread::sleep(Duration::from_millis(25));
    }
}

fn write_htpasswd(path: &Path, user: &str, password: &str) -> Result<()> {
    let htpasswd = util::find_program("SKIFF_HTPASSWD_BIN", &["/usr/bin/htpasswd"], "htpasswd")
        .unwrap_or_else(|| PathBuf::from("htpasswd"));
    let output = Command::new(&htpasswd)
        .args(["-Bbn", user, password])
        .output()
        .io_context(|| {
            format!(
                "running {} (apt-get install apache2-utils)",
                htpasswd.display()
            )
        })?;
    if !output.status.success() {
        // Not the arguments: they hold the password.
        return Err(HarnessError::Command {
            command: format!("{} -Bbn {user}", htpasswd.display()),
            status: output.status,
            output: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    fs::write(path, &output.stdout).io_context(|| format!("writing {}", path.display()))
}

/// Copies a registry storage tree: blobs as hard links (copies across
/// filesystems), everything else as real copies.
pub(crate) fn copy_seed(seed: &Path, dest: &Path) -> Result<()> {
    let v2 = Path::new("docker/registry/v2");
    copy_tree(
        &seed.join(v2).join("blobs"),
        &dest.join(v2).join("blobs"),
        true,
    )?;
    copy_tree(
        &seed.join(v2).join("repositories"),
        &dest.join(v2).join("repositories"),
        false,
    )
}

/// Copies `src` into `dst` (hard links for files when `link`); the error
/// names the file or directory that failed.
fn copy_tree(src: &Path, dst: &Path, link: bool) -> Result<()> {
    fs::create_dir_all(dst).io_context(|| format!("creating {}", dst.display()))?;
    let entries = fs::read_dir(src).io_context(|| format!("listing {}", src.display()))?;
    for entry in entries {
        let entry = entry.io_context(|| format!("listing {}", src.display()))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let kind = entry
            .file_type()
            .io_context(|| format!("reading the type of {}", from.display()))?;
        if kind.is_dir() {
            copy_tree(&from, &to, link)?;
        } else if kind.is_symlink() {
            fs::read_link(&from)
                .and_then(|target| std::os::unix::fs::symlink(target, &to))
                .io_context(|| format!("copying symlink {} to {}", from.display(), to.display()))?;
        } else if !link || fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to)
                .io_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        }
    }
    Ok(())
}
