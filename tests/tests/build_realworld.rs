//! Realistic multi-stage Dockerfiles (shaped like those of well-known
//! projects, on the fixture busybox as the only base) built offline by
//! skiffd and by the reference dockerd's legacy builder (`DOCKER_BUILDKIT=0`)
//! from the same context: the images' configs, their history (instruction
//! texts, with the content hashes of `COPY` lines masked) and the files
//! the builds wrote (type, mode, owner, size, content) must be the same.
//!
//! They use `ARG` (global and per stage, `--build-arg`), `ENV` with
//! substitution, `WORKDIR`, `USER`, `COPY --chown`/`--from`, `ADD` of a
//! local tar, `HEALTHCHECK`, `ONBUILD` (a base image and its child),
//! `SHELL`, `EXPOSE`, `VOLUME`, `STOPSIGNAL`, `LABEL`, `ENTRYPOINT`/`CMD`
//! in both forms, and a `.dockerignore` with `!` exceptions (applied by
//! the CLI).

use std::path::Path;

use skiff_e2e::{DockerCli, Dockerd, Skiffd, SkiffdOpts};

fn write(dir: &Path, name: &str, data: &str) {
    let path = dir.join(name);
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).expect("mkdir");
    }
    std::fs::write(path, data).expect("write");
}

/// A Go-style service: a builder stage "compiles" (a script stands in for
/// the toolchain), the runtime stage takes the artefact with `--chown`.
fn go_service(c: &Path) {
    write(c, "go.mod", "module example.com/svc\n\ngo 1.22\n");
    write(c, "cmd/svc/main.go", "package main\nfunc main() {}\n");
    write(c, "internal/api/api.go", "package api\n");
    write(c, "README.md", "# svc\n");
    write(
        c,
        "Dockerfile",
        r#"# syntax is the classic one: no BuildKit features
ARG VERSION=1.4.2
ARG BASE=busybox

FROM ${BASE} AS builder
ARG VERSION
ENV CGO_ENABLED=0 GOOS=linux \
    OUT=/out
WORKDIR /src
COPY go.mod ./
RUN mkdir -p $OUT && echo "deps for $(head -1 go.mod)" > /tmp/deps.txt
COPY . .
RUN printf '#!/bin/sh\necho svc %s\n' "$VERSION" > $OUT/svc && chmod 0755 $OUT/svc \
 && find cmd internal -type f | sort > $OUT/sources.txt

FROM busybox AS runtime
ARG VERSION
LABEL org.opencontainers.image.title="svc" \
      org.opencontainers.image.version="${VERSION}" \
      maintainer="team@example.com"
RUN echo 'svc:x:10001:10001::/home/svc:/bin/sh' >> /etc/passwd \
 && echo 'svc:x:10001:' >> /etc/group && mkdir -p /home/svc && chown svc:svc /home/svc
COPY --from=builder --chown=svc:svc /out/ /usr/local/bin/
COPY --from=builder /tmp/deps.txt /usr/share/svc/
USER svc:svc
WORKDIR /home/svc
EXPOSE 8080/tcp 9090
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
  CMD wget -q -O- http://127.0.0.1:8080/healthz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/svc"]
CMD ["--listen", ":8080"]
"#,
    );
}

/// A Node-style app: `.dockerignore` with exceptions, `SHELL`, `VOLUME`,
/// a numeric `USER`, shell-form `CMD`.
fn node_app(c: &Path) {
    write(
        c,
        "package.json",
        "{\"name\":\"app\",\"version\":\"2.0.0\"}\n",
    );
    write(c, "src/index.js", "console.log('hi')\n");
    write(c, "src/lib/util.js", "module.exports = {}\n");
    write(c, "node_modules/left-pad/index.js", "ignored\n");
    write(c, "debug.log", "ignored\n");
    write(c, "docs/guide.md", "ignored\n");
    write(c, "docs/keep.md", "kept by an exception\n");
    write(c, ".env.local", "SECRET=ignored\n");
    write(
        c,
        ".dockerignore",
        "node_modules\n*.log\ndocs/\n!docs/keep.md\n.env*\nDockerfile\n.dockerignore\n",
    );
    write(
        c,
        "Dockerfile",
        r#"FROM busybox
ARG NODE_ENV=production
ENV NODE_ENV=$NODE_ENV APP_HOME=/usr/src/app
SHELL ["/bin/sh", "-ec"]
WORKDIR $APP_HOME
COPY package.json ./
RUN mkdir -p node_modules/.bin; echo "installed for $NODE_ENV" > node_modules/.installed
COPY --chown=1000:1000 . .
RUN ls -a . docs > /tmp/listing.txt; chown -R 1000:1000 node_modules
VOLUME ["/usr/src/app/data", "/var/log/app"]
EXPOSE 3000
USER 1000:1000
CMD node src/index.js
"#,
    );
}

/// An nginx-style server: a system user, config directories with
/// `--chown` by name, `ADD` of a local tarball, `STOPSIGNAL SIGQUIT`.
fn web_server(c: &Path) {
    write(c, "conf/web.conf", "listen 80;\nroot /srv/www;\n");
    write(c, "conf/conf.d/default.conf", "server {}\n");
    write(c, "site/index.html", "<h1>hello</h1>\n");
    let tar = std::process::Command::new("tar")
        .args(["-czf"])
        .arg(c.join("assets.tar.gz"))
        .args(["-C"])
        .arg(c.join("site"))
        .arg("index.html")
        .status()
        .expect("tar");
    assert!(tar.success());
    write(
        c,
        "Dockerfile",
        r#"FROM busybox
MAINTAINER Web Team <web@example.com>
RUN echo 'web:x:101:101:web:/nonexistent:/bin/false' >> /etc/passwd \
 && echo 'web:x:101:' >> /etc/group && mkdir -p /var/cache/web /srv/www
COPY --chown=web:web conf/ /etc/web/
ADD assets.tar.gz /srv/www/
WORKDIR /srv/www
RUN chmod 0750 /var/cache/web && chown web:web /var/cache/web
VOLUME /var/cache/web
EXPOSE 80 443
STOPSIGNAL SIGQUIT
HEALTHCHECK NONE
ENTRYPOINT ["httpd", "-f", "-p", "80"]
"#,
    );
}

/// A base image with `ONBUILD` triggers, and an app built on it.
fn onbuild_base(c: &Path) {
    write(
        c,
        "Dockerfile",
        r#"FROM busybox
RUN mkdir -p /app
WORKDIR /app
ONBUILD COPY . /app/src/
ONBUILD RUN find /app/src -type f | sort > /app/manifest.txt
CMD ["cat", "/app/manifest.txt"]
"#,
    );
}

fn onbuild_child(c: &Path) {
    write(c, "one.txt", "1\n");
    write(c, "sub/two.txt", "2\n");
    write(c, "Dockerfile", "FROM rw-onbuild-base\nENV CHILD=yes\n");
}

/// What is compared: the config fields a Dockerfile decides, the history
/// (masked), and the listing of `dirs` in a container of the image.
fn describe(docker: &DockerCli, image: &str, dirs: &str) -> String {
    let config = docker.ok(&[
        "image",
        "inspect",
        "-f",
        "User={{json .Config.User}}\nEnv={{json .Config.Env}}\nCmd={{json .Config.Cmd}}\n\
         Entrypoint={{json .Config.Entrypoint}}\nWorkingDir={{json .Config.WorkingDir}}\n\
         ExposedPorts={{json .Config.ExposedPorts}}\nVolumes={{json .Config.Volumes}}\n\
         Labels={{json .Config.Labels}}\nStopSignal={{json .Config.StopSignal}}\n\
         Healthcheck={{json .Config.Healthcheck}}\nShell={{json .Config.Shell}}\n\
         OnBuild={{json .Config.OnBuild}}\nAuthor={{json .Author}}\nOs={{.Os}}\n\
         Layers={{len .RootFS.Layers}}",
        image,
    ]);
    let history = docker.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{if eq .Size \"0B\"}}empty{{else}}layer{{end}}",
        image,
    ]);
    let history = mask_hashes(&history);
    let listing = docker.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "/bin/sh",
        "--user",
        "0",
        image,
        "-c",
        &format!(
            "find {dirs} | sort | while read -r f; do \
               if [ -f \"$f\" ] && [ ! -L \"$f\" ]; then s=$(md5sum < \"$f\"); else s=-; fi; \
               echo \"$(stat -c '%n %F %a %u:%g' \"$f\") $s\"; done"
        ),
    ]);
    format!("{config}\n--- history\n{history}--- files\n{listing}")
}

/// `file:<hex>`/`dir:<hex>`/`multi:<hex>` → `file:<hash>`…: the content
/// hashes are each engine's own (the kind and what precedes it are not).
fn mask_hashes(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let masked: Vec<String> = line
            .split(' ')
            .map(|w| {
                for kind in ["file:", "dir:", "multi:"] {
                    if let Some(at) = w.find(kind) {
                        let hash = &w[at + kind.len()..];
                        if hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()) {
                            return format!("{}{kind}<hash>", &w[..at]);
                        }
                    }
                }
                w.to_owned()
            })
            .collect();
        out.push_str(&masked.join(" "));
        out.push('\n');
    }
    out
}

/// The lines of `a` (skiffd) and `b` (dockerd) that differ.
fn line_diff(a: &str, b: &str) -> String {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let mut out = String::new();
    for l in la.iter().filter(|l| !lb.contains(l)) {
        out.push_str(&format!("  skiffd:  {l}\n"));
    }
    for l in lb.iter().filter(|l| !la.contains(l)) {
        out.push_str(&format!("  dockerd: {l}\n"));
    }
    out
}

#[test]
fn realistic_dockerfiles_build_as_dockerd_builds_them() {
    let skiffd = Skiffd::start(SkiffdOpts::default());
    let dockerd = Dockerd::start();
    let engines: [(&str, DockerCli); 2] = [
        ("skiffd", skiffd.docker().clone()),
        (
            "dockerd",
            DockerCli::new(
                format!("unix://{}", dockerd.socket().display()),
                dockerd.dir().join("cli"),
            ),
        ),
    ];
    type Make = fn(&Path);
    let cases: [(&str, Make, &[&str], &str); 5] = [
        (
            "rw-go",
            go_service,
            &["--build-arg", "VERSION=1.5.0"],
            "/usr/local/bin /usr/share/svc /home/svc",
        ),
        ("rw-node", node_app, &[], "/usr/src/app /tmp/listing.txt"),
        (
            "rw-web",
            web_server,
            &[],
            "/etc/web /srv/www /var/cache/web",
        ),
        ("rw-onbuild-base", onbuild_base, &[], "/app"),
        ("rw-onbuild-child", onbuild_child, &[], "/app"),
    ];
    let mut contexts = Vec::new();
    let mut mismatches = Vec::new();
    for (tag, make, args, dirs) in cases {
        let ctx = tempfile::tempdir().expect("ctx");
        make(ctx.path());
        let path = ctx.path().to_str().expect("path").to_owned();
        let mut seen = Vec::new();
        for (name, docker) in &engines {
            let cli = docker.clone().with_env("DOCKER_BUILDKIT", "0");
            let mut argv = vec!["build", "-q", "-t", tag];
            argv.extend_from_slice(args);
            argv.push(&path);
            cli.ok(&argv);
            seen.push((name, describe(docker, tag, dirs)));
        }
        let (a, b) = (&seen[0], &seen[1]);
        if a.1 != b.1 {
            mismatches.push(format!(
                "{tag}: {} and {} built different images\n{}",
                a.0,
                b.0,
                line_diff(&a.1, &b.1)
            ));
        }
        contexts.push(ctx);
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // The images run as built.
    assert_eq!(
        skiffd.docker_ok(&["run", "--rm", "rw-go"]),
        "svc 1.5.0\n",
        "the runtime stage runs the builder's artefact"
    );
    let manifest = skiffd.docker_ok(&["run", "--rm", "rw-onbuild-child"]);
    assert_eq!(
        manifest,
        "/app/src/Dockerfile\n/app/src/one.txt\n/app/src/sub/two.txt\n"
    );
}
