//! Images steps of the app's end-to-end test: build an image from a
//! folder, run it with a published port and GET the port link's target;
//! sign in to a registry with htpasswd auth, push with progress, pick a tag
//! the registry lists, and check `docker push` from the CLI works with the
//! credentials the app stored (through `docker-credential-skiff`).

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use fantoccini::Client;
use skiff_e2e::docker::DockerCli;
use skiff_e2e::{Registry, Skiffd};

use super::{UI_TIMEOUT, click, engine_until, screenshot, step, text_of, type_into, wait_for};
use skiff_desktop_e2e::Display;

/// The app's home (`HOME`), whose `~/.local/bin` is on the app's and the
/// CLI's `PATH`: where the app links `docker-credential-skiff` at sign-in.
pub fn app_home(d: &Skiffd) -> std::path::PathBuf {
    d.dir().join("app-home")
}

/// `PATH` for the app and the CLI: `~/.local/bin` of [`app_home`], then
/// this process's `PATH` without the build's target folder (where
/// `docker-credential-skiff` is built: the CLI must find the app's link).
pub fn app_path(d: &Skiffd) -> String {
    let bin = app_home(d).join(".local/bin");
    std::fs::create_dir_all(&bin).expect("the app's ~/.local/bin");
    let target = skiff_e2e::util::target_dir();
    let rest = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::iter::once(bin)
        .chain(std::env::split_paths(&rest).filter(|p| !p.starts_with(&target)));
    std::env::join_paths(dirs)
        .expect("a PATH")
        .to_string_lossy()
        .into_owned()
}

/// What the built image serves.
const PAGE: &str = "built-by-skiff-desktop";

/// `GET /` on 127.0.0.1:`port` in skiffd's network namespace (where it
/// publishes ports): the whole answer, or `None` while nothing answers.
fn http_get(d: &Skiffd, port: u16) -> Option<String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = d.netns().tcp_connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// The build folder: a Dockerfile serving [`PAGE`] with busybox's httpd,
/// a build argument, and a `.dockerignore` the context honours.
fn build_folder(dir: &Path) {
    std::fs::create_dir_all(dir.join("www")).expect("the build folder");
    std::fs::write(dir.join("www/index.html"), format!("{PAGE}\n")).expect("index.html");
    std::fs::write(dir.join("secret.txt"), "must not be sent\n").expect("secret.txt");
    std::fs::write(dir.join(".dockerignore"), "secret.txt\n").expect(".dockerignore");
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nARG FLAVOUR=plain\nCOPY . /srv/\nRUN echo \"$FLAVOUR\" > /srv/flavour\nEXPOSE 8080\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/srv/www\"]\n",
    )
    .expect("Dockerfile");
}

/// Build from a folder, run with a published port, GET the link target.
pub async fn build_and_run(c: &Client, display: &Display, shots: &Path, d: &Skiffd) {
    step("build from a folder");
    let folder = d.dir().join("build-ctx");
    build_folder(&folder);
    let engine = d.bollard();
    click(c, "[data-testid=nav-images]").await;
    click(c, "[data-testid=build-open]").await;
    type_into(
        c,
        "[data-testid=build-context]",
        &folder.display().to_string(),
    )
    .await;
    type_into(c, "[data-testid=build-tag]", "e2e-built:1").await;
    click(c, "[data-testid=build-arg-add]").await;
    type_into(c, "[data-testid=build-arg-key]", "FLAVOUR").await;
    type_into(c, "[data-testid=build-arg-value]", "desktop").await;
    click(c, "[data-testid=build-submit]").await;
    let deadline = Instant::now() + UI_TIMEOUT;
    loop {
        let phase = wait_for(c, "[data-testid=build-phase]")
            .await
            .attr("data-phase")
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        if phase == "done" {
            break;
        }
        assert!(
            phase != "failed",
            "the build failed: {}",
            text_of(c, "[data-testid=build-dialog]").await
        );
        assert!(Instant::now() < deadline, "the build never ended");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = text_of(c, "[data-testid=build-log]").await;
    assert!(log.contains("Step 1/6 : FROM busybox"), "{log}");
    screenshot(display, shots, "images-build.png").await;
    let built = engine
        .inspect_image("e2e-built:1")
        .await
        .expect("the engine has e2e-built:1");
    assert!(built.id.is_some_and(|id| id.starts_with("sha256:")));
    let listing = d.docker_ok(&[
        "run",
        "--rm",
        "e2e-built:1",
        "sh",
        "-c",
        "ls /srv; cat /srv/flavour",
    ]);
    assert!(
        listing.contains("www") && listing.contains("desktop"),
        "{listing}"
    );
    assert!(
        !listing.contains("secret.txt"),
        ".dockerignore applied: {listing}"
    );

    step("run the built image with a published port");
    click(c, "[data-testid=build-run]").await;
    wait_for(c, "[data-testid=run-dialog]").await;
    type_into(c, "[data-testid=run-name]", "e2e-built").await;
    let port = d.netns().free_port(std::net::Ipv4Addr::LOCALHOST);
    type_into(
        c,
        "[data-testid=run-ports]",
        &format!("127.0.0.1:{port}:8080"),
    )
    .await;
    click(c, "[data-testid=run-submit]").await;
    let row = "[data-testid=container-row][data-name=e2e-built]";
    wait_for(c, &format!("{row}[data-state=running]")).await;
    let link = wait_for(c, &format!("{row} [data-testid=port-link]")).await;
    let shown: u16 = link
        .attr("data-port")
        .await
        .ok()
        .flatten()
        .and_then(|p| p.parse().ok())
        .expect("the link names its port");
    assert_eq!(shown, port);
    let href = link.attr("href").await.ok().flatten().unwrap_or_default();
    assert_eq!(
        href.trim_end_matches('/'),
        format!("http://localhost:{port}")
    );
    // The link's target, fetched (on 127.0.0.1, where it is published).
    let deadline = Instant::now() + Duration::from_secs(30);
    let answer = loop {
        match http_get(d, shown) {
            Some(answer) if answer.contains(PAGE) => break answer,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "no page on port {shown}: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert!(answer.starts_with("HTTP/1."), "{answer}");
    d.docker_ok(&["rm", "-f", "e2e-built"]);
    engine_until("e2e-built removed", || async {
        engine
            .inspect_container(
                "e2e-built",
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .is_err()
    })
    .await;
}

/// Sign in to an htpasswd registry, push through the app, pick a tag, then
/// `docker push` from the CLI with what the app stored.
pub async fn sign_in_and_push(
    c: &Client,
    display: &Display,
    shots: &Path,
    d: &Skiffd,
    config: &Path,
    registry: &Registry,
) {
    step("sign in to a registry");
    let host = registry.host();
    click(c, "[data-testid=nav-registries]").await;
    type_into(c, "[data-testid=registry-server]", &host).await;
    type_into(c, "[data-testid=registry-username]", "alice").await;
    type_into(c, "[data-testid=registry-password]", "wrong").await;
    click(c, "[data-testid=registry-submit]").await;
    let refused = text_of(c, "[data-testid=registry-error]").await;
    assert!(refused.contains("401"), "{refused}");
    wait_for(c, "[data-testid=registry-password]")
        .await
        .clear()
        .await
        .expect("clear");
    type_into(c, "[data-testid=registry-password]", "s3cret-pw").await;
    click(c, "[data-testid=registry-submit]").await;
    wait_for(
        c,
        &format!("[data-testid=registry-row][data-server='{host}']"),
    )
    .await;
    screenshot(display, shots, "registries.png").await;
    let text = std::fs::read_to_string(config.join("config.json")).expect("config.json");
    assert!(
        !text.contains("s3cret-pw") && !text.contains("\"auth\""),
        "{text}"
    );
    assert!(
        text.contains("\"skiff\""),
        "the CLI is pointed at docker-credential-skiff: {text}"
    );

    step("push through the app");
    let target = format!("{host}/e2e/built:1");
    d.docker_ok(&["tag", "e2e-built:1", &target]);
    click(c, "[data-testid=nav-images]").await;
    click(
        c,
        &format!("[data-testid=image-row][data-ref='{target}'] [data-testid=image-push]"),
    )
    .await;
    let card = format!("[data-testid=push-progress][data-reference='{target}']");
    wait_for(c, &card).await;
    screenshot(display, shots, "images-push.png").await;
    wait_for(c, &format!("{card}[data-phase=done]")).await;

    step("the tag picker");
    // The app linked its helper into ~/.local/bin, on the CLI's PATH (which
    // does not hold the target folder it is built in).
    let link = app_home(d).join(".local/bin/docker-credential-skiff");
    assert_eq!(
        std::fs::canonicalize(&link).expect("the app linked its helper"),
        std::fs::canonicalize(skiff_e2e::util::target_dir().join("debug/docker-credential-skiff"))
            .expect("the built helper")
    );
    let cli = DockerCli::new(d.docker_host(), config).with_env("PATH", app_path(d));
    let pushed = cli.ok(&["tag", "e2e-built:1", &format!("{host}/e2e/built:cli")]);
    drop(pushed);
    // `docker push` from the CLI, with the app's sign-in.
    let out = cli.run(&["push", &format!("{host}/e2e/built:cli")]);
    assert!(
        out.success(),
        "docker push with the app's credentials: {out:?}"
    );
    type_into(c, "[data-testid=pull-input]", &format!("{host}/e2e/built")).await;
    click(c, "[data-testid=pull-tags]").await;
    wait_for(c, "[data-testid=tag-option][data-tag='1']").await;
    wait_for(c, "[data-testid=tag-option][data-tag='cli']").await;
    screenshot(display, shots, "images-tags.png").await;
    click(c, "[data-testid=tag-option][data-tag='cli']").await;
    let value = wait_for(c, "[data-testid=pull-input]")
        .await
        .prop("value")
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    assert_eq!(value, format!("{host}/e2e/built:cli"));

    step("sign out");
    click(c, "[data-testid=nav-registries]").await;
    click(
        c,
        &format!("[data-testid=registry-row][data-server='{host}'] [data-testid=registry-signout]"),
    )
    .await;
    super::wait_gone(
        c,
        &format!("[data-testid=registry-row][data-server='{host}']"),
    )
    .await;
    let out = cli.run(&["push", &format!("{host}/e2e/built:cli")]);
    assert!(!out.success(), "signed out: the CLI push is refused");
}
