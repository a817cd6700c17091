//! `docker build` (the legacy builder, `DOCKER_BUILDKIT=0`) and `docker
//! commit` with the real docker CLI against skiffd: a Dockerfile using most
//! instructions checked with inspect and run; multi-stage with `--target`
//! and `COPY --from`; `--build-arg`; the cache (hit on rebuild, miss after
//! a context change, kept across a restart); `.dockerignore`; a Dockerfile
//! from stdin; a failing `RUN` (exit code, no container left); commit with
//! `-c`, `-m`, `-a`.

use std::path::Path;

use skiff_e2e::docker::DockerCli;
use skiff_e2e::{Skiffd, SkiffdOpts};

fn with_busybox() -> Skiffd {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    d
}

/// The CLI in legacy-builder mode.
fn cli(d: &Skiffd) -> DockerCli {
    d.docker().clone().with_env("DOCKER_BUILDKIT", "0")
}

fn write(dir: &Path, name: &str, data: &str) {
    let path = dir.join(name);
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).expect("mkdir");
    }
    std::fs::write(path, data).expect("write");
}

fn inspect(d: &Skiffd, image: &str, format: &str) -> String {
    d.docker_ok(&["image", "inspect", "-f", format, image])
        .trim()
        .to_owned()
}

/// No container of any state is left.
fn no_containers(d: &Skiffd) {
    let ps = d.docker_ok(&["ps", "-aq"]);
    assert!(ps.trim().is_empty(), "leftover containers: {ps}");
}

#[test]
fn a_dockerfile_with_most_instructions() {
    let d = with_busybox();
    let ctx = tempfile::tempdir().expect("ctx");
    let c = ctx.path();
    write(c, "hello.txt", "hello from the context\n");
    write(c, "dir/a", "a\n");
    write(c, "dir/sub/b", "b\n");
    write(c, "skip.log", "ignored\n");
    write(c, ".dockerignore", "*.log\n");
    write(
        c,
        "Dockerfile",
        r#"FROM busybox
LABEL org.example.title="skiff test" version=1
MAINTAINER someone@example.com
ENV GREETING=hi \
    TARGET=world
ARG BUILD_NO=0
WORKDIR /app
COPY hello.txt .
COPY dir /app/dir/
COPY --chown=1000:1000 --chmod=0600 hello.txt /owned.txt
ADD dir/a /added
RUN echo "$GREETING $TARGET $BUILD_NO" > /app/greeting && ls /app
RUN ["sh", "-c", "echo exec-form > /app/exec"]
SHELL ["/bin/sh", "-c"]
EXPOSE 8080 53/udp
VOLUME /data
USER nobody
HEALTHCHECK --interval=30s --timeout=3s CMD true
STOPSIGNAL SIGINT
ONBUILD RUN echo child
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/greeting"]
"#,
    );
    let docker = cli(&d);
    let out = docker.ok(&[
        "build",
        "-t",
        "skiff/all:1",
        "-t",
        "skiff/all:2",
        "--build-arg",
        "BUILD_NO=42",
        "--label",
        "extra=yes",
        c.to_str().expect("path"),
    ]);
    assert!(out.contains("Step 1/"), "{out}");
    assert!(out.contains("Successfully built"), "{out}");
    assert!(out.contains("Successfully tagged skiff/all:1"), "{out}");
    assert!(out.contains(" ---> Running in "), "{out}");
    no_containers(&d);

    // The container's view.
    assert_eq!(
        d.docker_ok(&["run", "--rm", "skiff/all:1"]).trim(),
        "hi world 42"
    );
    let files = d.docker_ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        "skiff/all:2",
        "-c",
        "cat /app/hello.txt /app/dir/a /app/dir/sub/b /app/exec /added; stat -c '%u:%g %a' /owned.txt; \
         ls /app; pwd; id -u",
    ]);
    assert_eq!(
        files,
        "hello from the context\na\nb\nexec-form\na\n1000:1000 600\ndir\nexec\ngreeting\nhello.txt\n/app\n65534\n",
    );
    // The config.
    assert_eq!(
        inspect(&d, "skiff/all:1", "{{json .Config.Env}}"),
        r#"["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","GREETING=hi","TARGET=world"]"#
    );
    assert_eq!(
        inspect(
            &d,
            "skiff/all:1",
            "{{.Config.WorkingDir}} {{.Config.User}} {{.Config.StopSignal}} {{.Author}}"
        ),
        "/app nobody SIGINT someone@example.com"
    );
    assert_eq!(
        inspect(
            &d,
            "skiff/all:1",
            "{{json .Config.Entrypoint}} {{json .Config.Cmd}}"
        ),
        r#"["/bin/sh","-c"] ["cat /app/greeting"]"#
    );
    assert_eq!(
        inspect(&d, "skiff/all:1", "{{json .Config.ExposedPorts}}"),
        r#"{"53/udp":{},"8080/tcp":{}}"#
    );
    assert_eq!(
        inspect(&d, "skiff/all:1", "{{json .Config.Volumes}}"),
        r#"{"/data":{}}"#
    );
    assert_eq!(
        inspect(&d, "skiff/all:1", "{{json .Config.Labels}}"),
        r#"{"extra":"yes","org.example.title":"skiff test","version":"1"}"#
    );
    assert_eq!(
        inspect(&d, "skiff/all:1", "{{json .Config.OnBuild}}"),
        r#"["RUN echo child"]"#
    );
    assert_eq!(
        inspect(
            &d,
            "skiff/all:1",
            "{{json .Config.Healthcheck.Test}} {{.Config.Healthcheck.Interval}}"
        ),
        r#"["CMD-SHELL","true"] 30s"#
    );
    // The history: one entry per step, metadata steps without a layer.
    let history = d.docker_ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Size}}",
        "skiff/all:1",
    ]);
    assert!(
        history.contains("/bin/sh -c #(nop)  CMD [\"cat /app/greeting\"]|0B"),
        "{history}"
    );
    assert!(history.contains("|1 BUILD_NO=42 /bin/sh -c echo \"$GREETING $TARGET $BUILD_NO\" > /app/greeting && ls /app|"), "{history}");
    assert!(
        history.contains("/bin/sh -c #(nop) COPY file:"),
        "{history}"
    );
    // .dockerignore: the ignored file is not in the context.
    write(c, "Dockerfile.ign", "FROM busybox\nCOPY . /ctx/\n");
    docker.ok(&[
        "build",
        "-q",
        "-f",
        c.join("Dockerfile.ign").to_str().expect("path"),
        "-t",
        "ign",
        c.to_str().expect("path"),
    ]);
    let listing = d.docker_ok(&["run", "--rm", "ign", "ls", "/ctx"]);
    assert!(!listing.contains("skip.log"), "{listing}");
    assert!(listing.contains("hello.txt"), "{listing}");

    // ONBUILD triggers run in a child build.
    let child = tempfile::tempdir().expect("child");
    write(child.path(), "Dockerfile", "FROM skiff/all:1\nRUN true\n");
    let out = docker.ok(&["build", "-t", "child", child.path().to_str().expect("path")]);
    assert!(out.contains("child\n"), "the trigger ran: {out}");
}

#[test]
fn multi_stage_target_build_args_and_stdin() {
    let d = with_busybox();
    let docker = cli(&d);
    let ctx = tempfile::tempdir().expect("ctx");
    let c = ctx.path();
    write(
        c,
        "Dockerfile",
        r#"ARG BASE=busybox
FROM ${BASE} AS builder
ARG VERSION=dev
RUN mkdir /out && echo "built $VERSION" > /out/artifact
FROM scratch AS final
COPY --from=builder /out /
FROM busybox AS other
COPY --from=0 /out/artifact /copied
CMD ["cat", "/copied"]
"#,
    );
    let path = c.to_str().expect("path");
    docker.ok(&["build", "--target", "builder", "-t", "stage:builder", path]);
    assert_eq!(
        d.docker_ok(&["run", "--rm", "stage:builder", "cat", "/out/artifact"]),
        "built dev\n"
    );
    docker.ok(&[
        "build",
        "--build-arg",
        "VERSION=1.2",
        "-t",
        "stage:other",
        path,
    ]);
    assert_eq!(d.docker_ok(&["run", "--rm", "stage:other"]), "built 1.2\n");
    // The scratch stage holds only the artifact.
    docker.ok(&["build", "--target", "final", "-t", "stage:final", path]);
    let layers = inspect(&d, "stage:final", "{{len .RootFS.Layers}}");
    assert_eq!(layers, "1");
    // An unknown target.
    let out = docker.run(&["build", "--target", "nope", path]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("failed to reach build target nope"),
        "{}",
        out.stderr
    );

    // `docker build -` with a Dockerfile on stdin (no context).
    let out = docker.run_with_stdin(
        &["build", "-t", "fromstdin", "-"],
        b"FROM busybox\nRUN echo stdin > /s\nCMD [\"cat\", \"/s\"]\n",
    );
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(d.docker_ok(&["run", "--rm", "fromstdin"]), "stdin\n");
    // `-f -`: the Dockerfile from stdin, the context from a directory.
    write(c, "ctxfile", "from the context\n");
    let out = docker.run_with_stdin(
        &["build", "-t", "stdinfile", "-f", "-", path],
        b"FROM busybox\nCOPY ctxfile /ctxfile\n",
    );
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(
        d.docker_ok(&["run", "--rm", "stdinfile", "cat", "/ctxfile"]),
        "from the context\n"
    );
    // -q prints the id only; --iidfile gets it too.
    let iid = c.join("iid");
    let out = docker.run_with_stdin(
        &["build", "-q", "--iidfile", iid.to_str().expect("path"), "-"],
        b"FROM busybox\nLABEL q=1\n",
    );
    assert!(out.success(), "{}", out.stderr);
    let id = std::fs::read_to_string(&iid).expect("iidfile");
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(out.stdout.trim(), id.trim());
}

#[test]
fn cache_hits_misses_and_survives_a_restart() {
    let mut d = with_busybox();
    let ctx = tempfile::tempdir().expect("ctx");
    let c = ctx.path();
    write(c, "f.txt", "one\n");
    write(
        c,
        "Dockerfile",
        "FROM busybox\nRUN echo ran > /ran\nCOPY f.txt /f.txt\nRUN cat /f.txt > /g\n",
    );
    let path = c.to_str().expect("path").to_owned();
    let first = cli(&d).ok(&["build", "-t", "cached", &path]);
    assert_eq!(first.matches(" ---> Running in ").count(), 2, "{first}");
    let id1 = inspect(&d, "cached", "{{.Id}}");
    let tagged1 = inspect(&d, "cached", "{{.Metadata.LastTagTime}}");
    let second = cli(&d).ok(&["build", "-t", "cached", &path]);
    assert_eq!(second.matches(" ---> Using cache").count(), 3, "{second}");
    assert!(!second.contains("Running in"), "{second}");
    assert_eq!(inspect(&d, "cached", "{{.Id}}"), id1);
    // The name did not move; as dockerd, tagging again refreshes
    // LastTagTime (recorded after the answer, seen at once).
    let tagged2 = inspect(&d, "cached", "{{.Metadata.LastTagTime}}");
    assert_ne!(tagged2, tagged1, "LastTagTime refreshed");
    // The build's scratch space (its context) goes after the answer.
    let scratch = d.data_root().join("build/tmp");
    skiff_e2e::util::wait_until(
        "the build's scratch removed",
        std::time::Duration::from_secs(30),
        || {
            std::fs::read_dir(&scratch)
                .map(|mut r| r.next().is_none())
                .unwrap_or(false)
        },
    );
    // A context change: the COPY and what follows miss.
    write(c, "f.txt", "two\n");
    let third = cli(&d).ok(&["build", "-t", "cached", &path]);
    assert_eq!(third.matches(" ---> Using cache").count(), 1, "{third}");
    assert_eq!(third.matches(" ---> Running in ").count(), 1, "{third}");
    assert_eq!(
        d.docker_ok(&["run", "--rm", "cached", "cat", "/g"]),
        "two\n"
    );
    // After a restart, still cached; --no-cache runs everything.
    let tagged3 = inspect(&d, "cached", "{{.Metadata.LastTagTime}}");
    d.restart();
    assert_eq!(inspect(&d, "cached", "{{.Metadata.LastTagTime}}"), tagged3);
    let fourth = cli(&d).ok(&["build", "-t", "cached", &path]);
    assert!(!fourth.contains("Running in"), "{fourth}");
    let fifth = cli(&d).ok(&["build", "--no-cache", "-t", "cached", &path]);
    assert_eq!(fifth.matches(" ---> Running in ").count(), 2, "{fifth}");
    // builder prune forgets the cache.
    d.docker_ok(&["builder", "prune", "-f"]);
    let sixth = cli(&d).ok(&["build", "-t", "cached", &path]);
    assert_eq!(sixth.matches(" ---> Running in ").count(), 2, "{sixth}");
    no_containers(&d);
}

#[test]
fn a_failing_run_fails_the_build_and_leaves_no_container() {
    let d = with_busybox();
    let out = cli(&d).run_with_stdin(
        &["build", "-t", "fails", "-"],
        b"FROM busybox\nRUN echo before && exit 3\nRUN echo never\n",
    );
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("The command '/bin/sh -c echo before && exit 3' returned a non-zero code: 3"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("before"), "{}", out.stdout);
    no_containers(&d);
    assert!(d.docker_run(&["image", "inspect", "fails"]).code != 0);
    // An unsupported request is refused by name.
    let out = cli(&d).run(&["build", "--add-host", "x:127.0.0.1", "-"]);
    assert_ne!(out.code, 0);
}

#[test]
fn commit_with_changes_message_and_author() {
    let d = with_busybox();
    d.docker_ok(&[
        "run",
        "--name",
        "c1",
        "busybox",
        "sh",
        "-c",
        "echo committed > /data.txt && rm /etc/group",
    ]);
    d.docker_ok(&[
        "commit",
        "-c",
        "CMD [\"cat\", \"/data.txt\"]",
        "-c",
        "ENV MODE=prod",
        "-c",
        "EXPOSE 9000",
        "-c",
        "LABEL team=skiff",
        "-m",
        "a message",
        "-a",
        "An Author",
        "c1",
        "committed:v1",
    ]);
    assert_eq!(d.docker_ok(&["run", "--rm", "committed:v1"]), "committed\n");
    assert_eq!(
        d.docker_ok(&[
            "run",
            "--rm",
            "committed:v1",
            "sh",
            "-c",
            "test -e /etc/group || echo gone; echo $MODE"
        ]),
        "gone\nprod\n"
    );
    assert_eq!(
        inspect(
            &d,
            "committed:v1",
            "{{json .Config.ExposedPorts}} {{.Config.Labels.team}} {{.Author}} {{.Comment}}"
        ),
        r#"{"9000/tcp":{}} skiff An Author a message"#
    );
    let parent = inspect(&d, "busybox", "{{len .RootFS.Layers}}");
    let layers = inspect(&d, "committed:v1", "{{len .RootFS.Layers}}");
    assert_eq!(
        layers.parse::<usize>().expect("n"),
        parent.parse::<usize>().expect("n") + 1
    );
    let history = d.docker_ok(&["history", "--format", "{{.Comment}}", "committed:v1"]);
    assert_eq!(history.lines().next(), Some("a message"), "{history}");
    // A running container is paused for the commit and runs on after it.
    d.docker_ok(&["run", "-d", "--name", "c2", "busybox", "sleep", "600"]);
    let id = d.docker_ok(&["commit", "c2"]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Status}}", "c2"])
            .trim(),
        "running"
    );
    // Not a valid change; an unknown container.
    let (_, err) = d.docker_fail(&["commit", "-c", "RUN true", "c1"]);
    assert!(err.contains("run is not a valid change command"), "{err}");
    let (_, err) = d.docker_fail(&["commit", "nope"]);
    assert!(err.contains("No such container: nope"), "{err}");
    d.docker_ok(&["rm", "-f", "c1", "c2"]);
}

#[test]
fn a_client_that_goes_away_cancels_the_build() {
    let d = with_busybox();
    let ctx = tempfile::tempdir().expect("ctx");
    write(
        ctx.path(),
        "Dockerfile",
        "FROM busybox\nRUN echo started && sleep 600\n",
    );
    let mut child = cli(&d)
        .command(&[
            "build",
            "-t",
            "cancelled",
            ctx.path().to_str().expect("path"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("docker build");
    // Wait until the RUN's container runs.
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut stdout, &mut line).expect("read");
        assert!(n > 0, "the build ended early: {seen}");
        seen.push_str(&line);
        if line.trim() == "started" {
            break;
        }
    }
    let ps = d.docker_ok(&["ps", "-a", "--format", "{{.ID}} {{.Status}} {{.Command}}"]);
    assert_eq!(ps.lines().count(), 1, "{ps}\n{seen}");
    child.kill().expect("kill the CLI");
    let _ = child.wait();
    // The build stops and its container goes.
    let gone = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        d.docker_ok(&["ps", "-aq"]).trim().is_empty()
    });
    assert!(gone, "the build container is still there");
    assert!(d.docker_run(&["image", "inspect", "cancelled"]).code != 0);
}

#[test]
fn intermediate_images_are_listed_with_all_only() {
    let d = with_busybox();
    let out = cli(&d).run_with_stdin(
        &["build", "-t", "layered", "-"],
        b"FROM busybox\nENV A=1\nRUN echo x > /x\nLABEL l=1\n",
    );
    assert!(out.success(), "{}", out.stderr);
    let default = d.docker_ok(&["images", "-q"]);
    let all = d.docker_ok(&["images", "-aq"]);
    assert_eq!(default.lines().count(), 2, "busybox and layered: {default}");
    assert_eq!(
        all.lines().count(),
        4,
        "and the two steps' images below it: {all}"
    );
}

#[test]
fn add_extracts_local_tars_and_refuses_urls() {
    let d = with_busybox();
    let ctx = tempfile::tempdir().expect("ctx");
    let c = ctx.path();
    // A gzip tar in the context.
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "inner/file.txt", &b"in\n"[..])
        .expect("append");
    let gz = b.into_inner().expect("tar").finish().expect("gzip");
    std::fs::write(c.join("bundle.tar.gz"), gz).expect("write");
    write(
        c,
        "Dockerfile",
        "FROM busybox\nADD bundle.tar.gz /opt/\nCOPY bundle.tar.gz /kept.tgz\n",
    );
    cli(&d).ok(&["build", "-t", "added", c.to_str().expect("path")]);
    assert_eq!(
        d.docker_ok(&[
            "run",
            "--rm",
            "added",
            "sh",
            "-c",
            "cat /opt/inner/file.txt; test -f /kept.tgz && echo kept"
        ]),
        "in\nkept\n"
    );
    // ADD of a URL: refused with a clear message, exit non-zero.
    let out = cli(&d).run_with_stdin(
        &["build", "-"],
        b"FROM busybox\nADD http://127.0.0.1:9/x /x\n",
    );
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("remote sources are not fetched"),
        "{}",
        out.stderr
    );
    no_containers(&d);
}

#[test]
fn bzip2_and_xz_contexts_build() {
    let d = with_busybox();
    let ctx = tempfile::tempdir().expect("ctx");
    let c = ctx.path();
    write(c, "src/f.txt", "packed\n");
    write(
        c,
        "Dockerfile",
        "FROM busybox\nCOPY src /src\nRUN cat /src/f.txt > /g\n",
    );
    let tar = std::process::Command::new("tar")
        .args(["-cf", "-", "-C"])
        .arg(c)
        .args(["Dockerfile", "src"])
        .output()
        .expect("tar");
    assert!(tar.status.success());
    for (tool, tag) in [("bzip2", "ctx-bz2"), ("xz", "ctx-xz")] {
        let mut child = std::process::Command::new(tool)
            .arg("-c")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect(tool);
        let mut stdin = child.stdin.take().expect("stdin");
        let data = tar.stdout.clone();
        let feeder = std::thread::spawn(move || {
            std::io::Write::write_all(&mut stdin, &data).expect("feed");
        });
        let packed = child.wait_with_output().expect(tool);
        feeder.join().expect("feeder");
        let out = cli(&d).run_with_stdin(&["build", "-t", tag, "-"], &packed.stdout);
        assert!(out.success(), "{tool}: {}{}", out.stdout, out.stderr);
        assert_eq!(d.docker_ok(&["run", "--rm", tag, "cat", "/g"]), "packed\n");
    }
    // The same context, however it was packed, hits the same cache.
    let again = cli(&d).run_with_stdin(&["build", "-t", "ctx-plain", "-"], &tar.stdout);
    assert!(again.success(), "{}{}", again.stdout, again.stderr);
    assert!(!again.stdout.contains("Running in"), "{}", again.stdout);
    no_containers(&d);
}

#[test]
fn copy_cache_follows_content_and_mode_not_time() {
    let d = with_busybox();
    let ctx = tempfile::tempdir().expect("ctx");
    let c = ctx.path();
    write(c, "dir/a.sh", "echo a\n");
    write(c, "dir/sub/b", "b\n");
    write(c, "other", "o\n");
    write(
        c,
        "Dockerfile",
        "FROM busybox\nCOPY dir /dir\nRUN ls -lR /dir > /listing\n",
    );
    let path = c.to_str().expect("path").to_owned();
    cli(&d).ok(&["build", "-t", "cc", &path]);
    let build = || cli(&d).ok(&["build", "-t", "cc", &path]);
    // A file outside the copied sources, and a new mtime: still cached.
    write(c, "other", "changed\n");
    let t = std::process::Command::new("touch")
        .args(["-d", "2001-01-01"])
        .arg(c.join("dir/sub/b"))
        .status()
        .expect("touch");
    assert!(t.success());
    let out = build();
    assert!(!out.contains("Running in"), "{out}");
    // A mode change under the source: a miss.
    let chmod = std::process::Command::new("chmod")
        .arg("755")
        .arg(c.join("dir/a.sh"))
        .status()
        .expect("chmod");
    assert!(chmod.success());
    let out = build();
    assert_eq!(out.matches(" ---> Running in ").count(), 1, "{out}");
    assert!(
        d.docker_ok(&["run", "--rm", "cc", "cat", "/listing"])
            .contains("-rwxr-xr-x"),
    );
    // A content change deep under it: a miss.
    write(c, "dir/sub/b", "b2\n");
    let out = build();
    assert_eq!(out.matches(" ---> Running in ").count(), 1, "{out}");
    assert_eq!(
        d.docker_ok(&["run", "--rm", "cc", "cat", "/dir/sub/b"]),
        "b2\n"
    );
}

#[test]
fn system_df_lists_the_build_cache_and_builder_prune_counts_it() {
    let d = with_busybox();
    let ctx = tempfile::tempdir().expect("ctx");
    let c = ctx.path();
    write(c, "f.txt", "x\n");
    write(
        c,
        "Dockerfile",
        "FROM busybox\nCOPY f.txt /f.txt\nRUN echo hi > /hi\nENV A=1\n",
    );
    let path = c.to_str().expect("path").to_owned();
    cli(&d).ok(&["build", "-t", "dfimg", &path]);
    let df = d.docker_ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]);
    assert!(df.lines().any(|l| l == "Build Cache 3"), "{df}");
    let verbose = d.docker_ok(&["system", "df", "-v"]);
    assert_eq!(verbose.matches(" regular ").count(), 3, "{verbose}");
    let pruned = d.docker_ok(&["builder", "prune", "-f"]);
    assert!(pruned.contains("Deleted build cache objects:"), "{pruned}");
    let ids = pruned
        .lines()
        .filter(|l| l.len() == 64 && l.chars().all(|c| c.is_ascii_hexdigit()))
        .count();
    assert_eq!(ids, 3, "{pruned}");
    assert!(pruned.contains("Total reclaimed space: 0B"), "{pruned}");
    let df = d.docker_ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]);
    assert!(df.lines().any(|l| l == "Build Cache 0"), "{df}");
    // Options the cache cannot honour are refused by name.
    let (code, err) = d.docker_fail(&["builder", "prune", "-f", "--filter", "until=24h"]);
    assert_ne!(code, 0);
    assert!(err.contains("until"), "{err}");
}

/// `FROM` an image of a registry that needs credentials: refused before
/// `docker login`, built after (the CLI sends them in X-Registry-Config).
fn from_an_authenticated_registry(registry: skiff_e2e::Registry) {
    let mut opts = SkiffdOpts::default()
        .no_mirror()
        .insecure_registry(registry.host());
    if let Some(tokens) = registry.token_server() {
        opts = opts.forward(tokens.addr().port());
    }
    let d = Skiffd::start(opts);
    let ctx = tempfile::tempdir().expect("ctx");
    let c = ctx.path();
    let base = registry.image("private/busybox:latest");
    write(
        c,
        "Dockerfile",
        &format!("FROM {base}\nRUN echo built > /built\n"),
    );
    let path = c.to_str().expect("path").to_owned();
    let denied = cli(&d).run(&["build", "-t", "authed", &path]);
    assert_ne!(denied.code, 0, "{}", denied.stdout);
    let said = format!("{}{}", denied.stdout, denied.stderr);
    assert!(
        said.contains("unauthorized") || said.contains("denied"),
        "{said}"
    );
    let (user, pass) = registry.credentials().expect("auth registry");
    let out = d.docker().run_with_stdin(
        &["login", &registry.host(), "-u", user, "--password-stdin"],
        pass.as_bytes(),
    );
    assert!(out.success(), "login: {}", out.stderr);
    cli(&d).ok(&["build", "-t", "authed", &path]);
    assert_eq!(
        d.docker_ok(&["run", "--rm", "authed", "cat", "/built"]),
        "built\n"
    );
    no_containers(&d);
}

#[test]
fn from_an_htpasswd_registry_after_login() {
    from_an_authenticated_registry(skiff_e2e::Registry::start_with_htpasswd("skiff", "s3cret"));
}

#[test]
fn from_a_token_auth_registry_after_login() {
    from_an_authenticated_registry(skiff_e2e::Registry::start_with_token_auth("skiff", "t0ken"));
}

/// Heredocs with BuildKit's semantics (the legacy builder of dockerd has
/// none): `RUN <<EOF` runs the body with the `SHELL`, a heredoc with more
/// on its line goes to the shell whole, `COPY <<EOF` writes a file named
/// for the delimiter, its variables expanded unless the delimiter is quoted.
/// The body is in the cache key: a changed body runs again.
#[test]
fn heredocs_run_and_copy_as_buildkit() {
    let d = with_busybox();
    let ctx = tempfile::tempdir().expect("ctx");
    let c = ctx.path();
    let dockerfile = |greeting: &str| {
        format!(
            "FROM busybox\nARG WHO=world\nRUN <<EOF\necho {greeting} > /one\necho two >> /one\nEOF\nRUN <<EOF cat > /two\nraw $WHO\nEOF\nCOPY <<A <<'B' /etc/docs/\nhello $WHO\nA\nhello $WHO\nB\nCOPY --chmod=0755 <<EOF /run.sh\n#!/bin/sh\necho script\nEOF\n"
        )
    };
    write(c, "Dockerfile", &dockerfile("one"));
    let path = c.to_str().expect("path").to_owned();
    cli(&d).ok(&["build", "--build-arg", "WHO=skiff", "-t", "hd", &path]);
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "hd",
        "sh",
        "-c",
        "cat /one /two /etc/docs/A /etc/docs/B; /run.sh; stat -c %a /etc/docs/A /run.sh",
    ]);
    assert_eq!(
        out,
        "one\ntwo\nraw skiff\nhello skiff\nhello $WHO\nscript\n644\n755\n"
    );
    // Cached as a whole; a changed body runs that step again.
    let again = cli(&d).ok(&["build", "--build-arg", "WHO=skiff", "-t", "hd", &path]);
    assert!(!again.contains("Running in"), "{again}");
    write(c, "Dockerfile", &dockerfile("uno"));
    let changed = cli(&d).ok(&["build", "--build-arg", "WHO=skiff", "-t", "hd", &path]);
    assert_eq!(changed.matches(" ---> Running in ").count(), 2, "{changed}");
    assert_eq!(
        d.docker_ok(&["run", "--rm", "hd", "head", "-1", "/one"]),
        "uno\n"
    );
    // A script heredoc (#!) is refused before any step runs.
    write(
        c,
        "Dockerfile",
        "FROM busybox\nRUN echo first\nRUN <<EOF\n#!/bin/sh\necho hi\nEOF\n",
    );
    let out = cli(&d).run(&["build", "-t", "hd2", &path]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(out.stderr.contains("starting with #!"), "{}", out.stderr);
    assert!(!out.stdout.contains("Running in"), "{}", out.stdout);
    no_containers(&d);
}
