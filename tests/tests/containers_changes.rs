//! `docker diff` (`GET /containers/{id}/changes`) with the real docker CLI
//! and bollard: adds, modifications, whiteouts and opaque directories of the
//! writable layer, parent directories reported as modified, runtime mount
//! points never reported; running and stopped containers. The expected
//! lists are what Debian's dockerd 20.10 (overlay2) prints for the same
//! commands on the same image, in skiffd's stable order (dockerd's varies
//! from call to call).

use skiff_e2e::util::unix_http;
use skiff_e2e::{Skiffd, SkiffdOpts};

fn with_busybox() -> Skiffd {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    d
}

/// Every `C dir` comes before what changed under it.
fn parents_first(lines: &[&str]) {
    for (i, line) in lines.iter().enumerate() {
        let path = &line[2..];
        if let Some((parent, _)) = path.rsplit_once('/')
            && !parent.is_empty()
        {
            let at = lines
                .iter()
                .position(|l| &l[2..] == parent)
                .unwrap_or_else(|| panic!("{path} without its parent: {lines:?}"));
            assert!(at < i, "{parent} after {path}: {lines:?}");
        }
    }
}

#[test]
fn diff_prints_what_dockerd_prints() {
    let d = with_busybox();
    d.docker_ok(&[
        "run",
        "--name",
        "c1",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /new/sub && echo a > /new/sub/f && echo b > /etc/passwd && rm /etc/group \
         && rm -rf /home && touch /tmp/t /usr && ln -s /x /lnk && rm -rf /usr && mkdir -p /usr/bin2 \
         && chmod 700 /root && chmod 777 /var",
    ]);
    let out = d.docker_ok(&["diff", "c1"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "C /etc",
            "C /etc/passwd",
            "D /etc/group",
            "A /lnk",
            "A /new",
            "A /new/sub",
            "A /new/sub/f",
            "C /tmp",
            "A /tmp/t",
            "C /usr",
            "A /usr/bin2",
            "D /usr/bin",
            "C /var",
            "D /home",
        ],
        "{out}"
    );
    parents_first(&lines);
    // Same answer again (stable order).
    assert_eq!(d.docker_ok(&["diff", "c1"]), out);

    // The raw API: docker's kinds.
    let r = unix_http(d.socket(), "GET", "/containers/c1/changes", b"").expect("changes");
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(v[0], serde_json::json!({"Path": "/etc", "Kind": 0}));
    assert_eq!(v[3], serde_json::json!({"Path": "/lnk", "Kind": 1}));
    assert_eq!(v[13], serde_json::json!({"Path": "/home", "Kind": 2}));

    let (code, err) = d.docker_fail(&["diff", "nope"]);
    assert_ne!(code, 0);
    assert!(err.contains("No such container: nope"), "{err}");
}

#[test]
fn diff_of_running_containers_and_untouched_ones() {
    let d = with_busybox();
    d.docker_ok(&["pull", "-q", "hello-world"]);
    // The runtime's mount points (/etc/hosts, /proc, … in an image without
    // them), a working directory and a bind's mount point.
    d.docker_ok(&["run", "--name", "hw", "hello-world"]);
    assert_eq!(d.docker_ok(&["diff", "hw"]), "");
    let hw = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async { d.bollard().container_changes("hw").await })
        .expect("changes");
    assert_eq!(hw, None, "dockerd answers null");

    let bind = tempfile::tempdir().expect("bind dir");
    let volume = format!("{}:/mnt/bind", bind.path().display());
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "live",
        "-w",
        "/work/dir",
        "-v",
        &volume,
        "busybox",
        "sh",
        "-c",
        "echo x > /tmp/a; sleep 60",
    ]);
    let mut out = String::new();
    for _ in 0..50 {
        out = d.docker_ok(&["diff", "live"]);
        if out.contains("/tmp/a") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        out,
        "A /mnt\nA /mnt/bind\nC /tmp\nA /tmp/a\nA /work\nA /work/dir\n"
    );
    d.docker_ok(&["rm", "-f", "live"]);
}
