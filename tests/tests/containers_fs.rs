//! `docker cp` (both ways, running and stopped containers, symlink escape
//! attempts), the archive API (`HEAD`/`GET`/`PUT …/archive`) and `docker
//! export`, with the real docker CLI.

use std::io::Read;
use std::path::Path;

use base64::Engine;
use serde_json::Value;
use skiff_e2e::util::{HttpResponse, mounts_under, unix_http};
use skiff_e2e::{Skiffd, SkiffdOpts};

fn with_busybox() -> Skiffd {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    d
}

fn api(d: &Skiffd, method: &str, path: &str, body: &[u8]) -> HttpResponse {
    unix_http(d.socket(), method, path, body).expect("api request")
}

/// `docker ARGS` with its binary stdout (a tar).
fn docker_bytes(d: &Skiffd, args: &[&str]) -> Vec<u8> {
    let out = d.docker().command(args).output().expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// (name, content) of every entry of a tar.
fn tar_entries(tar: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut a = tar::Archive::new(tar);
    a.entries()
        .expect("entries")
        .map(|e| {
            let mut e = e.expect("entry");
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).expect("content");
            (name, data)
        })
        .collect()
}

#[test]
fn cp_both_ways_with_running_and_stopped_containers() {
    let d = with_busybox();
    let id = d
        .docker_ok(&[
            "run",
            "-d",
            "--name",
            "c1",
            "busybox",
            "sh",
            "-c",
            "echo hi > /tmp/made; mkdir -p /data/sub; sleep 1000",
        ])
        .trim()
        .to_owned();
    std::thread::sleep(std::time::Duration::from_millis(300));

    // Out of the container, to stdout: a tar of the file, with the
    // container's own /etc/hostname (a bind mount in the container).
    let tar = docker_bytes(&d, &["cp", "c1:/etc/hostname", "-"]);
    let entries = tar_entries(&tar);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].0, "hostname");
    assert_eq!(entries[0].1, format!("{}\n", &id[..12]).as_bytes());

    // Out of the container, to files and directories.
    let host = tempfile::tempdir().expect("tempdir");
    let made = host.path().join("made");
    d.docker_ok(&["cp", "c1:/tmp/made", made.to_str().expect("utf8")]);
    assert_eq!(std::fs::read_to_string(&made).expect("copied"), "hi\n");
    let etc = host.path().join("etc-copy");
    d.docker_ok(&["cp", "c1:/etc", etc.to_str().expect("utf8")]);
    assert!(etc.join("passwd").is_file() && etc.join("hostname").is_file());

    // Into the container: a directory, then a file into an existing dir.
    let src = host.path().join("src");
    std::fs::create_dir_all(src.join("deeper")).expect("mkdir");
    std::fs::write(src.join("a.txt"), "A").expect("write");
    std::fs::write(src.join("deeper/b.txt"), "B").expect("write");
    d.docker_ok(&["cp", src.to_str().expect("utf8"), "c1:/data/"]);
    assert_eq!(
        d.docker_ok(&[
            "exec",
            "c1",
            "cat",
            "/data/src/a.txt",
            "/data/src/deeper/b.txt"
        ]),
        "AB"
    );
    d.docker_ok(&["cp", made.to_str().expect("utf8"), "c1:/data/sub"]);
    assert_eq!(
        d.docker_ok(&["exec", "c1", "cat", "/data/sub/made"]),
        "hi\n"
    );
    // A new name for a file.
    d.docker_ok(&["cp", made.to_str().expect("utf8"), "c1:/data/renamed"]);
    assert_eq!(d.docker_ok(&["exec", "c1", "cat", "/data/renamed"]), "hi\n");

    let (_, err) = d.docker_fail(&["cp", "c1:/nope", "-"]);
    assert!(
        err.contains("Could not find the file /nope in container c1"),
        "{err}"
    );

    // A stopped container: both ways, through a private mount.
    d.docker_ok(&["stop", "-t", "0", "c1"]);
    let tar = docker_bytes(&d, &["cp", "c1:/data/src", "-"]);
    let names: Vec<String> = tar_entries(&tar).into_iter().map(|e| e.0).collect();
    assert!(names.contains(&"src/deeper/b.txt".to_owned()), "{names:?}");
    std::fs::write(host.path().join("later"), "while stopped").expect("write");
    d.docker_ok(&[
        "cp",
        host.path().join("later").to_str().expect("utf8"),
        "c1:/tmp/",
    ]);
    assert!(
        mounts_under(d.data_root()).is_empty(),
        "{:?}",
        mounts_under(d.data_root())
    );
    d.docker_ok(&["start", "c1"]);
    assert_eq!(
        d.docker_ok(&["exec", "c1", "cat", "/tmp/later"]),
        "while stopped"
    );
}

#[test]
fn cp_never_leaves_the_container() {
    let d = with_busybox();
    d.docker_ok(&["run", "-d", "--name", "c2", "busybox", "sleep", "1000"]);
    d.docker_ok(&[
        "exec", "c2", "sh", "-c",
        "ln -s / /escape && mkdir -p /deep/er && ln -s ../../../../../ /deep/er/up && echo inside > /etc/marker",
    ]);
    let host = tempfile::tempdir().expect("tempdir");
    let unique = format!("skiff-escape-{}", std::process::id());
    let file = host.path().join(&unique);
    std::fs::write(&file, "payload").expect("write");
    let f = file.to_str().expect("utf8");
    // `ln -s / /escape` then copy through it: it lands in the container.
    d.docker_ok(&["cp", f, "c2:/escape/tmp/"]);
    let renamed = format!("{unique}-2");
    d.docker_ok(&["cp", f, &format!("c2:/deep/er/up/tmp/{renamed}")]);
    for name in [&unique, &renamed] {
        assert!(
            !Path::new("/tmp").join(name).exists(),
            "escaped to the host"
        );
    }
    let listed = d.docker_ok(&[
        "exec",
        "c2",
        "cat",
        &format!("/tmp/{unique}"),
        &format!("/tmp/{renamed}"),
    ]);
    assert_eq!(listed, "payloadpayload");
    // Reading through it reads the container's files, not the host's.
    let tar = docker_bytes(&d, &["cp", "c2:/escape/etc/marker", "-"]);
    assert_eq!(tar_entries(&tar)[0].1, b"inside\n");
    // The same with the container stopped.
    d.docker_ok(&["stop", "-t", "0", "c2"]);
    let stopped = format!("{unique}-stopped");
    d.docker_ok(&["cp", f, &format!("c2:/escape/tmp/{stopped}")]);
    assert!(
        !Path::new("/tmp").join(&stopped).exists(),
        "escaped to the host"
    );
    let tar = docker_bytes(&d, &["cp", &format!("c2:/escape/tmp/{stopped}"), "-"]);
    assert_eq!(tar_entries(&tar)[0].1, b"payload");
    assert!(mounts_under(d.data_root()).is_empty());
}

#[test]
fn archive_api_stat_header_and_errors() {
    let d = with_busybox();
    d.docker_ok(&["run", "-d", "--name", "c3", "busybox", "sleep", "1000"]);
    d.docker_ok(&["exec", "c3", "ln", "-s", "/etc", "/etclink"]);
    let stat = |path: &str| -> Value {
        let r = api(
            &d,
            "HEAD",
            &format!("/containers/c3/archive?path={path}"),
            b"",
        );
        assert_eq!(r.status, 200, "{path}");
        let raw = r
            .header("x-docker-container-path-stat")
            .expect("stat header");
        let json = base64::engine::general_purpose::STANDARD
            .decode(raw)
            .expect("base64");
        serde_json::from_slice(&json).expect("json")
    };
    let s = stat("/etc/passwd");
    assert_eq!(s["name"], "passwd");
    assert_eq!(s["mode"], 0o644);
    assert!(s["size"].as_i64().expect("size") > 0);
    assert!(s["mtime"].as_str().expect("mtime").contains('T'));
    let s = stat("/etc");
    assert_eq!(
        s["mode"].as_u64().expect("mode") & (1 << 31),
        1 << 31,
        "a directory"
    );
    let s = stat("/etclink");
    assert_eq!(s["linkTarget"], "/etc");
    assert_ne!(
        s["mode"].as_u64().expect("mode") & (1 << 27),
        0,
        "a symlink"
    );

    assert_eq!(
        api(&d, "HEAD", "/containers/c3/archive?path=/nope", b"").status,
        404
    );
    assert_eq!(
        api(&d, "HEAD", "/containers/nope/archive?path=/", b"").status,
        404
    );
    let r = api(&d, "GET", "/containers/c3/archive", b"");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("bad parameter"), "{}", r.text());
    let r = api(&d, "GET", "/containers/c3/archive?path=/etc/hostname", b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-tar"));
    assert!(r.header("x-docker-container-path-stat").is_some());
    assert_eq!(tar_entries(&r.body)[0].0, "hostname");

    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o600);
    h.set_cksum();
    b.append_data(&mut h, "put.txt", &b"put"[..])
        .expect("append");
    let body = b.into_inner().expect("tar");
    let r = api(&d, "PUT", "/containers/c3/archive?path=/etc/passwd", &body);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("extraction point is not a directory"));
    let r = api(&d, "PUT", "/containers/c3/archive?path=/nope", &body);
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(
        r.text()
            .contains("Could not find the file /nope in container c3")
    );
    // Through a symlink to a directory, and gzip-compressed.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &body).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let r = api(&d, "PUT", "/containers/c3/archive?path=/etclink", &gz);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(d.docker_ok(&["exec", "c3", "cat", "/etc/put.txt"]), "put");
    assert_eq!(
        d.docker_ok(&["exec", "c3", "stat", "-c", "%a %u", "/etc/put.txt"])
            .trim(),
        "600 0"
    );

    // A read-only root filesystem takes nothing.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "ro",
        "--read-only",
        "busybox",
        "sleep",
        "1000",
    ]);
    let r = api(&d, "PUT", "/containers/ro/archive?path=/tmp", &body);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("container rootfs is marked read-only"));
}

#[test]
fn export_is_the_merged_rootfs() {
    let d = with_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "c4",
        "busybox",
        "sh",
        "-c",
        "echo written > /tmp/made; rm /bin/ls; sleep 1000",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let names = |tar: &[u8]| -> Vec<String> { tar_entries(tar).into_iter().map(|e| e.0).collect() };
    let running = names(&docker_bytes(&d, &["export", "c4"]));
    assert!(running.contains(&"bin/busybox".to_owned()), "{running:?}");
    assert!(running.contains(&"tmp/made".to_owned()));
    assert!(
        !running.contains(&"bin/ls".to_owned()),
        "deleted in the container"
    );
    assert!(running.contains(&"proc/".to_owned()));
    assert!(
        !running.iter().any(|n| n.starts_with("proc/1")),
        "no mounts of the container"
    );
    d.docker_ok(&["stop", "-t", "0", "c4"]);
    let out = d.dir().join("c4.tar");
    d.docker_ok(&["export", "-o", out.to_str().expect("utf8"), "c4"]);
    let stopped = names(&std::fs::read(&out).expect("export"));
    assert_eq!(stopped, running, "the same tree stopped as running");
    let made = tar_entries(&std::fs::read(&out).expect("export"))
        .into_iter()
        .find(|e| e.0 == "tmp/made")
        .expect("made");
    assert_eq!(made.1, b"written\n");
    // Never started: the image's tree.
    d.docker_ok(&["create", "--name", "fresh", "busybox"]);
    let fresh = names(&docker_bytes(&d, &["export", "fresh"]));
    assert!(fresh.contains(&"bin/ls".to_owned()));
    // dockerd's init layer, made at create: `/.dockerenv` and the runtime's
    // mount points, also in a never started container (and in `ls /`).
    for init in [
        ".dockerenv",
        "dev/console",
        "dev/pts/",
        "dev/shm/",
        "etc/hostname",
        "etc/hosts",
        "etc/mtab",
        "etc/resolv.conf",
        "proc/",
        "sys/",
    ] {
        assert!(fresh.contains(&init.to_owned()), "{init}: {fresh:?}");
        assert!(running.contains(&init.to_owned()), "{init}: {running:?}");
    }
    let root = d.docker_ok(&["run", "--rm", "busybox", "ls", "-a", "/"]);
    assert!(root.lines().any(|l| l == ".dockerenv"), "{root}");
    assert!(mounts_under(d.data_root()).is_empty());
    let (_, err) = d.docker_fail(&["export", "nope"]);
    assert!(err.contains("No such container: nope"), "{err}");
}

#[test]
fn cp_sees_the_containers_binds_and_copies_its_root() {
    let d = with_busybox();
    let vol = tempfile::tempdir().expect("tempdir");
    let bind = format!("{}:/vol", vol.path().display());
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "c5",
        "-v",
        &bind,
        "busybox",
        "sh",
        "-c",
        "echo from-container > /vol/f; sleep 1000",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let tar = docker_bytes(&d, &["cp", "c5:/vol/f", "-"]);
    assert_eq!(tar_entries(&tar)[0].1, b"from-container\n");
    let host = tempfile::tempdir().expect("tempdir");
    let src = host.path().join("into-volume");
    std::fs::write(&src, "from-host").expect("write");
    d.docker_ok(&["cp", src.to_str().expect("utf8"), "c5:/vol/"]);
    assert_eq!(
        std::fs::read_to_string(vol.path().join("into-volume")).expect("in the volume"),
        "from-host"
    );
    // The whole root, as docker names it, and nothing of /proc.
    let root = host.path().join("root");
    d.docker_ok(&["cp", "c5:/", root.to_str().expect("utf8")]);
    assert!(root.join("bin/busybox").is_file());
    assert_eq!(
        std::fs::read_to_string(root.join("vol/into-volume")).expect("volume"),
        "from-host"
    );
    assert_eq!(
        std::fs::read_dir(root.join("proc")).expect("proc").count(),
        0
    );
    // Stopped: the volume is still bound for cp.
    d.docker_ok(&["stop", "-t", "0", "c5"]);
    let tar = docker_bytes(&d, &["cp", "c5:/vol/f", "-"]);
    assert_eq!(tar_entries(&tar)[0].1, b"from-container\n");
    assert!(mounts_under(d.data_root()).is_empty());
}

/// An archive PUT the engine refuses early (no such directory) while the
/// client is still sending the tar: the engine reads the rest of the body
/// before closing, so the client's later writes succeed and it reads the
/// 404 with its message (the docker CLI otherwise reports "broken pipe"
/// instead of the engine's error).
#[test]
fn archive_put_refused_early_still_reads_the_body_and_answers() {
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    let d = with_busybox();
    d.docker_ok(&["create", "--name", "c5", "busybox", "true"]);
    let chunk = |data: &[u8]| {
        let mut c = format!("{:x}\r\n", data.len()).into_bytes();
        c.extend_from_slice(data);
        c.extend_from_slice(b"\r\n");
        c
    };
    let mut s = UnixStream::connect(d.socket()).expect("connect");
    s.write_all(
        b"PUT /v1.47/containers/c5/archive?path=/no/such/dir HTTP/1.1\r\nHost: docker\r\n\
          Content-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .expect("head");
    s.write_all(&chunk(&[0u8; 512])).expect("first part");
    // The engine answers now; the client is still sending.
    std::thread::sleep(std::time::Duration::from_millis(500));
    for _ in 0..8 {
        s.write_all(&chunk(&[0u8; 64 * 1024]))
            .expect("the rest of the body is still read");
    }
    s.write_all(b"0\r\n\r\n").expect("terminator");
    s.shutdown(std::net::Shutdown::Write).expect("half-close");
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok();
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(answer.contains("/no/such/dir"), "{answer}");
}
