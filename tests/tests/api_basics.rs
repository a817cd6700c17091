//! The API surface every client relies on: ping, versions, errors, the
//! socket's permissions, and no TCP listener.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};

use skiff_e2e::util::unix_http;
use skiff_e2e::{Skiffd, SkiffdOpts};

#[test]
fn ping_version_and_info_answer_like_docker() {
    let d = Skiffd::start(SkiffdOpts::default());
    for path in ["/_ping", "/v1.24/_ping", "/v1.41/_ping", "/v1.50/_ping"] {
        let r = unix_http(d.socket(), "GET", path, b"").expect("ping");
        assert_eq!((r.status, r.text().as_str()), (200, "OK"), "{path}");
        assert_eq!(r.header("api-version"), Some("1.50"));
        assert_eq!(r.header("ostype"), Some("linux"));
    }
    let head = unix_http(d.socket(), "HEAD", "/_ping", b"").expect("head ping");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("api-version"), Some("1.50"));

    let v: serde_json::Value = serde_json::from_slice(
        &unix_http(d.socket(), "GET", "/v1.50/version", b"")
            .expect("version")
            .body,
    )
    .expect("json");
    assert_eq!(v["ApiVersion"], "1.50");
    assert_eq!(v["MinAPIVersion"], "1.24");
    assert_eq!(v["Os"], "linux");

    // The real CLI agrees.
    let out = d.docker_ok(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Server.Os}}",
    ]);
    assert_eq!(out.trim(), "1.50 1.24 linux");
    let out = d.docker_ok(&[
        "info",
        "--format",
        "{{.OSType}} {{.Driver}} {{.Images}} {{.DockerRootDir}}",
    ]);
    assert_eq!(
        out.trim(),
        format!("linux overlayfs 0 {}", d.data_root().display())
    );
}

#[test]
fn bad_requests_get_dockers_json_errors() {
    let d = Skiffd::start(SkiffdOpts::default());
    let cases = [
        (
            "GET",
            "/v1.51/version",
            400,
            "client version 1.51 is too new. Maximum supported API version is 1.50",
        ),
        (
            "GET",
            "/v1.12/version",
            400,
            "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version",
        ),
        ("GET", "/no/such/route", 404, "page not found"),
        (
            "GET",
            "/v1.50/images/nope:1/json",
            404,
            "No such image: nope:1",
        ),
        ("DELETE", "/images/nope", 404, "No such image: nope:latest"),
        (
            "POST",
            "/images/create",
            400,
            "fromImage or fromSrc must be given",
        ),
        (
            "POST",
            "/images/create?fromImage=Busybox",
            400,
            "invalid reference format: repository name (library/Busybox) must be lowercase",
        ),
        (
            "GET",
            "/images/json?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D",
            400,
            "Invalid filter 'bogus'",
        ),
        (
            "POST",
            "/images/load",
            400,
            "invalid archive: no manifest.json or index.json found",
        ),
    ];
    for (method, path, status, message) in cases {
        let r = unix_http(d.socket(), method, path, b"").expect("request");
        assert_eq!(r.status, status, "{method} {path}: {}", r.text());
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "{method} {path}"
        );
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json error body");
        assert_eq!(
            v,
            serde_json::json!({ "message": message }),
            "{method} {path}"
        );
    }
    let (code, stderr) = d.docker_fail(&["image", "inspect", "nope"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("No such image: nope"), "{stderr}");
}

#[test]
fn socket_is_private_and_nothing_listens_on_tcp() {
    let mut d = Skiffd::start(SkiffdOpts::default());
    let meta = std::fs::metadata(d.socket()).expect("socket");
    assert!(meta.file_type().is_socket());
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o660,
        "API socket must be owner/group only"
    );

    let pid = d.pid().expect("pid");
    let socket_inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fds")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            l.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(str::to_owned)
        })
        .collect();
    assert!(!socket_inodes.is_empty());
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // st == 0A is LISTEN; column 9 is the inode.
            if cols.get(3) == Some(&"0A") {
                assert!(
                    !socket_inodes
                        .iter()
                        .any(|i| Some(&i.as_str()) == cols.get(9)),
                    "skiffd listens on TCP: {line}"
                );
            }
        }
    }
    assert!(d.is_running());
}
