//! A load generator for a docker-compatible engine on a Unix socket (issue
//! 19 §3): `clients` concurrent clients for `duration`, mixing pings,
//! container and image lists, inspects, execs and whole container
//! lifecycles (create → start → stop → rm), while some clients follow a
//! container's logs (`logs -f`) and others subscribe to `/events` for the
//! whole run. It reports requests/s, p50/p99 latency (overall and per
//! operation), errors, and the daemon's RSS and open fds before, at the peak
//! during, and `settle` after the load, with its CPU time per request.
//!
//! Every request goes over a new connection (as the docker CLI makes one
//! per command), through hyper's HTTP/1.1 client. An error is a transport
//! failure, an answer other than the one docker documents for the call, a
//! request unanswered after [`REQUEST_TIMEOUT`], or a follower's or
//! subscriber's stream that ended before the run did.
//!
//! The engine must already have `image` (busybox or alike: `sleep`, `sh`,
//! `true`). What the run creates carries the label `skiff-load=<run>` and is
//! removed at its end. The daemon's figures come from `/proc/<pid>` of
//! `pids` (summed: give dockerd's and containerd's), so run as root or as
//! the daemon's user.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::time::timeout;

pub mod kill;
mod proc;

use proc::clock_ticks;
pub use proc::{ProcSample, sample};

/// Longest a request may take before it counts as an error (a hang).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// The API version every request names (dockerd 20.10 speaks up to 1.41).
const API: &str = "/v1.41";
/// Long-lived containers that inspects and execs target.
const TARGETS: usize = 4;
/// Error messages kept for the report.
const ERROR_SAMPLES: usize = 10;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadOpts {
    /// The engine's API socket.
    pub socket: PathBuf,
    /// Concurrent clients; every 16th follows logs, every 16th (offset 8)
    /// subscribes to events, the others send requests back to back.
    pub clients: usize,
    /// How long the clients send requests.
    pub duration: Duration,
    /// The image containers run (must be present).
    pub image: String,
    /// The daemon's processes whose RSS, fds and CPU are measured.
    pub pids: Vec<u32>,
    /// Wait after the load before the "after" sample.
    pub settle: Duration,
}

/// One operation kind's figures.
#[derive(Debug, Clone, Default)]
pub struct OpStats {
    /// Requests answered as expected.
    pub ok: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Requests that failed because the daemon was killed meanwhile
    /// ([`run_with_kills`]; not errors).
    pub interrupted: u64,
    /// How long the longest interrupted request had been waiting.
    pub longest_interrupted: Duration,
    /// Latencies of the successful requests.
    pub latencies: Vec<Duration>,
}

/// The outcome of a run.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Clients that ran.
    pub clients: usize,
    /// Wall time of the load phase.
    pub elapsed: Duration,
    /// Per operation (`ping`, `list`, `images`, `inspect`, `exec`,
    /// `create`, `start`, `stop`, `rm`, `logs -f`, `events`).
    pub ops: BTreeMap<&'static str, OpStats>,
    /// Bytes the log followers received.
    pub follower_bytes: u64,
    /// Bytes the event subscribers received.
    pub event_bytes: u64,
    /// Before the load (after setup and one warm-up round).
    pub before: ProcSample,
    /// Largest RSS, anonymous RSS and fd count seen during the load (each
    /// its own maximum; cpu: at its end).
    pub peak: ProcSample,
    /// `settle` after the load.
    pub after: ProcSample,
    /// The first few errors, for the report.
    pub error_samples: Vec<String>,
}

impl LoadReport {
    /// Requests answered as expected (streams count once each).
    pub fn requests(&self) -> u64 {
        self.ops.values().map(|o| o.ok).sum()
    }

    /// Failed requests and broken streams.
    pub fn errors(&self) -> u64 {
        self.ops.values().map(|o| o.errors).sum()
    }

    /// Requests and streams a kill cut short ([`run_with_kills`]).
    pub fn interrupted(&self) -> u64 {
        self.ops.values().map(|o| o.interrupted).sum()
    }

    /// The `q` quantile (0–1) of the latencies of every short request.
    pub fn quantile(&self, q: f64) -> Duration {
        let mut all: Vec<Duration> = self
            .ops
            .iter()
            .filter(|(k, _)| !matches!(**k, "logs -f" | "events"))
            .flat_map(|(_, o)| o.latencies.iter().copied())
            .collect();
        quantile(&mut all, q)
    }

    /// Requests per second over the load phase.
    pub fn rate(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The daemon's CPU milliseconds per request during the load.
    pub fn cpu_ms_per_request(&self) -> f64 {
        let ticks = self.peak.cpu_ticks.saturating_sub(self.before.cpu_ticks);
        ticks as f64 / clock_ticks() * 1000.0 / (self.requests().max(1) as f64)
    }

    /// A human-readable table of the figures.
    pub fn render(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let mib = |k: u64| k as f64 / 1024.0;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} clients, {:.1} s: {} requests, {:.1} req/s, p50 {:.1} ms, p99 {:.1} ms, {} errors",
            self.clients,
            self.elapsed.as_secs_f64(),
            self.requests(),
            self.rate(),
            ms(self.quantile(0.5)),
            ms(self.quantile(0.99)),
            self.errors()
        );
        if self.interrupted() > 0 {
            let _ = writeln!(
                out,
                "{} requests and streams cut short by a kill",
                self.interrupted()
            );
        }
        let _ = writeln!(
            out,
            "{:<8} {:>8} {:>7} {:>9} {:>9}",
            "op", "ok", "errors", "p50 ms", "p99 ms"
        );
        for (name, o) in &self.ops {
            let mut l = o.latencies.clone();
            let _ = writeln!(
                out,
                "{:<8} {:>8} {:>7} {:>9.1} {:>9.1}",
                name,
                o.ok,
                o.errors,
                ms(quantile(&mut l, 0.5)),
                ms(quantile(&mut l, 0.99))
            );
            if o.interrupted > 0 {
                let _ = writeln!(
                    out,
                    "{:<8} {:>8} cut short by a kill, the longest after {:.1} ms",
                    "",
                    o.interrupted,
                    ms(o.longest_interrupted)
                );
            }
        }
        let _ = writeln!(
            out,
            "streams: logs -f {} bytes, events {} bytes",
            self.follower_bytes, self.event_bytes
        );
        let _ = writeln!(
            out,
            "daemon RSS MiB before {:.1} peak {:.1} after {:.1} (anonymous {:.1} / {:.1} / {:.1}); fds before {} peak {} after {}; CPU {:.2} ms/request",
            mib(self.before.rss_kib),
            mib(self.peak.rss_kib),
            mib(self.after.rss_kib),
            mib(self.before.anon_kib),
            mib(self.peak.anon_kib),
            mib(self.after.anon_kib),
            self.before.fds,
            self.peak.fds,
            self.after.fds,
            self.cpu_ms_per_request()
        );
        for e in &self.error_samples {
            let _ = writeln!(out, "error: {e}");
        }
        out
    }

    /// The figures as one JSON object (for scripts).
    pub fn json(&self) -> Value {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        json!({
            "clients": self.clients,
            "seconds": self.elapsed.as_secs_f64(),
            "requests": self.requests(),
            "errors": self.errors(),
            "interrupted": self.interrupted(),
            "rps": self.rate(),
            "p50_ms": ms(self.quantile(0.5)),
            "p99_ms": ms(self.quantile(0.99)),
            "rss_kib": [self.before.rss_kib, self.peak.rss_kib, self.after.rss_kib],
            "anon_kib": [self.before.anon_kib, self.peak.anon_kib, self.after.anon_kib],
            "fds": [self.before.fds, self.peak.fds, self.after.fds],
            "cpu_ms_per_request": self.cpu_ms_per_request(),
        })
    }
}

/// Nearest-rank quantile of `v` (sorted in place); zero when empty.
fn quantile(v: &mut [Duration], q: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort_unstable();
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Connecting, sending or reading failed.
    #[error("{what}: {source}")]
    Transport {
        /// The request.
        what: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An answer other than the expected one.
    #[error("{what}: {status} {body}")]
    Status {
        /// The request.
        what: String,
        /// Its status.
        status: StatusCode,
        /// The start of its body.
        body: String,
    },
    /// No answer in time.
    #[error("{0}: no answer within {REQUEST_TIMEOUT:?}")]
    Timeout(String),
}

/// An answer's status and body.
type Answer = (StatusCode, Bytes);

/// Sends one request over a new connection and reads the whole answer.
async fn call(
    socket: &Path,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<Answer, LoadError> {
    let what = format!("{method} {path}");
    let work = async {
        let resp = send(socket, method.clone(), path, body).await?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| transport(&what, e))?
            .to_bytes();
        Ok((status, bytes))
    };
    match timeout(REQUEST_TIMEOUT, work).await {
        Ok(r) => r,
        Err(_) => Err(LoadError::Timeout(what)),
    }
}

fn transport(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> LoadError {
    LoadError::Transport {
        what: what.to_owned(),
        source: Box::new(e),
    }
}

/// Sends a request on a new connection; the answer's body is left to read.
async fn send(
    socket: &Path,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<hyper::Response<hyper::body::Incoming>, LoadError> {
    let what = format!("{method} {path}");
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| transport(&what, e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| transport(&what, e))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    let req = Request::builder()
        .method(method)
        .uri(format!("{API}{path}"))
        .header("Host", "docker")
        .header("Content-Type", "application/json")
        .body(Full::new(bytes))
        .map_err(|e| transport(&what, e))?;
    sender
        .send_request(req)
        .await
        .map_err(|e| transport(&what, e))
}

/// [`call`], requiring `expect`.
async fn expect(
    socket: &Path,
    method: Method,
    path: &str,
    body: Option<Value>,
    expect: StatusCode,
) -> Result<Bytes, LoadError> {
    let (status, bytes) = call(socket, method.clone(), path, body).await?;
    if status == expect {
        Ok(bytes)
    } else {
        Err(LoadError::Status {
            what: format!("{method} {path}"),
            status,
            body: String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
        })
    }
}

/// The `Id` of a JSON answer.
fn id_of(bytes: &Bytes) -> String {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| v.get("Id")?.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Shared state of a run.
struct Run {
    opts: LoadOpts,
    label: String,
    targets: Vec<String>,
    logger: String,
    stop: AtomicBool,
    stats: Mutex<BTreeMap<&'static str, OpStats>>,
    errors: Mutex<Vec<String>>,
    follower_bytes: AtomicU64,
    event_bytes: AtomicU64,
    /// Set by [`run_with_kills`]: the harness kills the daemon meanwhile.
    kills: Option<Arc<kill::Kills>>,
}

impl Run {
    async fn record(&self, op: &'static str, started: Instant, r: Result<(), LoadError>) {
        let took = started.elapsed();
        let mut stats = self.stats.lock().await;
        let s = stats.entry(op).or_default();
        match r {
            Ok(()) => {
                s.ok += 1;
                s.latencies.push(took);
            }
            Err(_) if self.kills.as_ref().is_some_and(|k| k.explains(started)) => {
                s.interrupted += 1;
                s.longest_interrupted = s.longest_interrupted.max(took);
            }
            Err(e) => {
                s.errors += 1;
                drop(stats);
                let mut errors = self.errors.lock().await;
                if errors.len() < ERROR_SAMPLES {
                    errors.push(format!("{op}: {e}"));
                }
            }
        }
    }

    fn socket(&self) -> &Path {
        &self.opts.socket
    }

    /// Creates (and starts) a container with the run's label.
    async fn create(&self, name: Option<&str>, cmd: &[&str]) -> Result<String, LoadError> {
        let path = match name {
            Some(n) => format!("/containers/create?name={n}"),
            None => "/containers/create".to_owned(),
        };
        let body =
            json!({"Image": self.opts.image, "Cmd": cmd, "Labels": {"skiff-load": self.label}});
        let bytes = expect(
            self.socket(),
            Method::POST,
            &path,
            Some(body),
            StatusCode::CREATED,
        )
        .await?;
        let id = id_of(&bytes);
        if let Some(k) = &self.kills {
            k.created(&id);
        }
        Ok(id)
    }

    /// Under [`run_with_kills`], waits while the harness holds the clients
    /// and returns the guard of an operation in flight.
    async fn gate(&self) -> Option<kill::Active<'_>> {
        match &self.kills {
            Some(k) => Some(k.gate().await),
            None => None,
        }
    }

    /// True once a [`run_with_kills`] harness ended the load.
    fn finished(&self) -> bool {
        self.kills.as_ref().is_some_and(|k| k.finished())
    }

    /// One worker operation, chosen by `pick` (0–99).
    async fn operation(&self, pick: u32, n: usize) {
        let target = &self.targets[n % self.targets.len()];
        let t = Instant::now();
        match pick {
            0..25 => self.get("ping", t, "/_ping").await,
            25..40 => self.get("list", t, "/containers/json?all=1").await,
            40..50 => self.get("images", t, "/images/json").await,
            50..70 => {
                let path = format!("/containers/{target}/json");
                self.get("inspect", t, &path).await;
            }
            70..85 => {
                let r = self.exec(target).await;
                self.record("exec", t, r).await;
            }
            _ => self.lifecycle().await,
        }
    }

    /// `POST /containers/{id}/start`, expecting 204.
    async fn start(&self, id: &str) -> Result<(), LoadError> {
        let path = format!("/containers/{id}/start");
        expect(
            self.socket(),
            Method::POST,
            &path,
            None,
            StatusCode::NO_CONTENT,
        )
        .await
        .map(drop)
    }

    /// `GET path`, expecting 200, recorded as `op` from `t`.
    async fn get(&self, op: &'static str, t: Instant, path: &str) {
        let r = expect(self.socket(), Method::GET, path, None, StatusCode::OK).await;
        self.record(op, t, r.map(drop)).await;
    }

    /// `docker exec TARGET true`, its output read to the end.
    async fn exec(&self, target: &str) -> Result<(), LoadError> {
        let s = self.socket();
        let body = json!({"Cmd": ["true"], "AttachStdout": true, "AttachStderr": true});
        let bytes = expect(
            s,
            Method::POST,
            &format!("/containers/{target}/exec"),
            Some(body),
            StatusCode::CREATED,
        )
        .await?;
        let id = id_of(&bytes);
        let body = json!({"Detach": false, "Tty": false});
        expect(
            s,
            Method::POST,
            &format!("/exec/{id}/start"),
            Some(body),
            StatusCode::OK,
        )
        .await?;
        Ok(())
    }

    /// create → start → stop → rm, each timed as its own operation; the
    /// container is removed whatever failed.
    async fn lifecycle(&self) {
        let s = self.socket();
        let t = Instant::now();
        let id = match self.create(None, &["sleep", "60"]).await {
            Ok(id) => {
                self.record("create", t, Ok(())).await;
                id
            }
            Err(e) => return self.record("create", t, Err(e)).await,
        };
        let steps = [
            ("start", Method::POST, format!("/containers/{id}/start")),
            ("stop", Method::POST, format!("/containers/{id}/stop?t=0")),
            ("rm", Method::DELETE, format!("/containers/{id}?force=1")),
        ];
        for (op, method, path) in steps {
            let t = Instant::now();
            let ledger = self.kills.as_ref().filter(|_| op == "rm");
            if let Some(k) = ledger {
                k.removing(&id);
            }
            let r = expect(s, method, &path, None, StatusCode::NO_CONTENT).await;
            match (ledger, &r) {
                (Some(k), Ok(_)) => k.removed(&id),
                (Some(k), Err(e)) if kill::never_sent(e) => k.not_removing(&id),
                _ => {}
            }
            self.record(op, t, r.map(drop)).await;
        }
    }

    /// Holds a stream (`logs -f` or `/events`) until the run stops; an end
    /// before that is an error — unless a kill explains it
    /// ([`run_with_kills`]): then it is counted interrupted and the stream
    /// is opened again once the clients may go on.
    async fn stream(&self, op: &'static str, path: String) {
        loop {
            // Streams only read: they wait at the gate but are not counted
            // in flight (the harness would wait for them forever).
            drop(self.gate().await);
            let t = Instant::now();
            let r = self.stream_once(op, &path).await;
            let again = r.is_err()
                && !self.stop.load(Ordering::Relaxed)
                && self.kills.as_ref().is_some_and(|k| k.explains(t));
            self.record(op, t, r).await;
            if !again {
                return;
            }
        }
    }

    /// One connection of [`Run::stream`].
    async fn stream_once(&self, op: &'static str, path: &str) -> Result<(), LoadError> {
        let resp = timeout(
            REQUEST_TIMEOUT,
            send(self.socket(), Method::GET, path, None),
        )
        .await
        .map_err(|_| LoadError::Timeout(path.to_owned()))??;
        if resp.status() != StatusCode::OK {
            return Err(LoadError::Status {
                what: format!("GET {path}"),
                status: resp.status(),
                body: String::new(),
            });
        }
        let mut body = resp.into_body();
        let counter = if op == "events" {
            &self.event_bytes
        } else {
            &self.follower_bytes
        };
        loop {
            let frame = tokio::select! {
                f = body.frame() => f,
                () = self.stopped() => return Ok(()),
            };
            match frame {
                Some(Ok(f)) => {
                    if let Some(d) = f.data_ref() {
                        counter.fetch_add(d.len() as u64, Ordering::Relaxed);
                    }
                }
                Some(Err(e)) => return Err(transport(path, e)),
                None if self.stop.load(Ordering::Relaxed) => return Ok(()),
                None => {
                    return Err(LoadError::Transport {
                        what: format!("GET {path}"),
                        source: "the stream ended before the run".into(),
                    });
                }
            }
        }
    }

    /// Resolves once the run is stopping.
    async fn stopped(&self) {
        while !self.stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Removes every container of the run.
    async fn cleanup(&self) {
        let filters = json!({"label": [format!("skiff-load={}", self.label)]}).to_string();
        let path = format!("/containers/json?all=1&filters={}", urlencode(&filters));
        let Ok(bytes) = expect(self.socket(), Method::GET, &path, None, StatusCode::OK).await
        else {
            return;
        };
        let list: Vec<Value> = serde_json::from_slice(&bytes).unwrap_or_default();
        for c in list {
            if let Some(id) = c.get("Id").and_then(Value::as_str) {
                let _ = call(
                    self.socket(),
                    Method::DELETE,
                    &format!("/containers/{id}?force=1"),
                    None,
                )
                .await;
            }
        }
    }
}

/// Percent-encodes a query value.
fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)])
        .map(|e| e.trim_start_matches("v=").to_owned())
        .unwrap_or_default()
}

/// A small xorshift generator: each client's own sequence of operations.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 32) as u32
    }
}

/// Runs the load (see the module doc). Setup failures (the long-lived
/// containers cannot be made) are returned; request failures during the
/// load are counted in the report.
pub async fn run(opts: LoadOpts) -> Result<LoadReport, LoadError> {
    run_inner(opts, None).await
}

/// [`run`] while a harness kills the daemon (see [`kill`]): the clients
/// keep `kills`' ledger and pass its gate, failures a kill explains are
/// counted as interrupted, and the load ends at [`kill::Kills::finish`]
/// (or after `opts.duration`, a bound).
pub async fn run_with_kills(
    opts: LoadOpts,
    kills: Arc<kill::Kills>,
) -> Result<LoadReport, LoadError> {
    run_inner(opts, Some(kills)).await
}

async fn run_inner(
    opts: LoadOpts,
    kills: Option<Arc<kill::Kills>>,
) -> Result<LoadReport, LoadError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let label = format!("{}-{nanos}", std::process::id());
    let mut run = Run {
        opts: opts.clone(),
        label: label.clone(),
        targets: Vec::new(),
        logger: String::new(),
        stop: AtomicBool::new(false),
        stats: Mutex::new(BTreeMap::new()),
        errors: Mutex::new(Vec::new()),
        follower_bytes: AtomicU64::new(0),
        event_bytes: AtomicU64::new(0),
        kills,
    };
    let result = setup(&mut run).await;
    let run = Arc::new(run);
    let report = match result {
        Ok(()) => Ok(load(&run).await),
        Err(e) => Err(e),
    };
    run.cleanup().await;
    report
}

/// The long-lived containers, then one warm-up round of every operation.
async fn setup(run: &mut Run) -> Result<(), LoadError> {
    for i in 0..TARGETS {
        let name = format!("skiff-load-{}-{i}", run.label);
        let id = run.create(Some(&name), &["sleep", "100000"]).await?;
        run.start(&id).await?;
        if let Some(k) = &run.kills {
            k.long_lived(&id);
        }
        run.targets.push(id);
    }
    let name = format!("skiff-load-{}-logger", run.label);
    let id = run
        .create(
            Some(&name),
            &["sh", "-c", "while true; do echo tick; sleep 0.2; done"],
        )
        .await?;
    run.start(&id).await?;
    if let Some(k) = &run.kills {
        k.long_lived(&id);
    }
    run.logger = id;
    // Warm-up: first uses allocate what stays (pools, caches); not a leak.
    for pick in [0, 30, 45, 60, 75, 90] {
        run.operation(pick, 0).await;
    }
    let errors = run.errors.lock().await.clone();
    if let Some(first) = errors.first() {
        return Err(LoadError::Transport {
            what: "warm-up".into(),
            source: first.clone().into(),
        });
    }
    run.stats.lock().await.clear();
    if let Some(k) = &run.kills {
        k.set_ready();
    }
    Ok(())
}

/// The load phase and the samples around it.
async fn load(run: &Arc<Run>) -> LoadReport {
    let opts = &run.opts;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = sample(&opts.pids);
    let peak = Arc::new(Mutex::new(before));
    let sampler = {
        let (run, peak) = (Arc::clone(run), Arc::clone(&peak));
        tokio::spawn(async move {
            while !run.stop.load(Ordering::Relaxed) {
                let now = sample(&run.opts.pids);
                let mut p = peak.lock().await;
                p.rss_kib = p.rss_kib.max(now.rss_kib);
                p.anon_kib = p.anon_kib.max(now.anon_kib);
                p.fds = p.fds.max(now.fds);
                drop(p);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let started = Instant::now();
    let deadline = started + opts.duration;
    let mut tasks = Vec::new();
    for n in 0..opts.clients {
        let run = Arc::clone(run);
        tasks.push(tokio::spawn(async move {
            match n % 16 {
                0 => {
                    let path = format!("/containers/{}/logs?follow=1&stdout=1&tail=0", run.logger);
                    run.stream("logs -f", path).await;
                }
                8 => {
                    let filters = urlencode(r#"{"type":["container"]}"#);
                    run.stream("events", format!("/events?filters={filters}"))
                        .await;
                }
                _ => {
                    let mut rng = XorShift(
                        0x9E37_79B9_7F4A_7C15 ^ (n as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D),
                    );
                    while Instant::now() < deadline && !run.finished() {
                        let _active = run.gate().await;
                        run.operation(rng.next() % 100, n).await;
                    }
                }
            }
        }));
    }
    while Instant::now() < deadline && !run.finished() {
        tokio::time::sleep(
            Duration::from_millis(100).min(deadline.saturating_duration_since(Instant::now())),
        )
        .await;
    }
    // Workers finish their operation; then the streams are let go.
    let (streams, workers): (Vec<_>, Vec<_>) =
        tasks.into_iter().enumerate().partition(|(n, _)| n % 8 == 0);
    for (_, t) in workers {
        let _ = t.await;
    }
    let elapsed = started.elapsed();
    run.stop.store(true, Ordering::Relaxed);
    for (_, t) in streams {
        let _ = t.await;
    }
    let _ = sampler.await;
    let mut peak = *peak.lock().await;
    peak.cpu_ticks = sample(&opts.pids).cpu_ticks;
    tokio::time::sleep(opts.settle).await;
    let after = sample(&opts.pids);
    LoadReport {
        clients: opts.clients,
        elapsed,
        ops: run.stats.lock().await.clone(),
        follower_bytes: run.follower_bytes.load(Ordering::Relaxed),
        event_bytes: run.event_bytes.load(Ordering::Relaxed),
        before,
        peak,
        after,
        error_samples: run.errors.lock().await.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let mut v: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(quantile(&mut v, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&mut v, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&mut [], 0.5), Duration::ZERO);
    }
}
