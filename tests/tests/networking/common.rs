//! Helpers shared by the networking tests (`networking.rs`,
//! `networking_live.rs`): a daemon with busybox, inspect, the namespace's
//! links, exec retried while a server starts.

use std::time::{Duration, Instant};

use skiff_e2e::{Skiffd, SkiffdOpts};

/// A busybox httpd serving `$BODY` at `/` on port 80.
pub const HTTPD: &str =
    "mkdir -p /www && echo $BODY > /www/index.html && exec httpd -f -p 80 -h /www";

/// A daemon (in a network namespace of its own) with busybox pulled.
pub fn with_busybox() -> Skiffd {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    d
}

/// `docker inspect -f FORMAT WHAT`, trimmed.
pub fn inspect(d: &Skiffd, what: &str, format: &str) -> String {
    d.docker_ok(&["inspect", "-f", format, what])
        .trim()
        .to_owned()
}

/// The links of the daemon's namespace.
pub fn links(d: &Skiffd) -> Vec<String> {
    let out = d.netns().run(|| {
        std::process::Command::new("ip")
            .args(["-o", "link", "show"])
            .output()
    });
    let out = out.expect("ip link");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split(':')
                .nth(1)
                .map(|n| n.trim().split('@').next().unwrap_or("").to_owned())
        })
        .collect()
}

/// `docker exec CONTAINER ARGS…` until it succeeds (a server starting),
/// for up to 20 s; its output.
pub fn exec_until_ok(d: &Skiffd, container: &str, args: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut full = vec!["exec", container];
    full.extend_from_slice(args);
    loop {
        let out = d.docker_run(&full);
        if out.success() {
            return out.stdout;
        }
        assert!(Instant::now() < deadline, "{full:?}: {}", out.stdout);
        std::thread::sleep(Duration::from_millis(200));
    }
}
