//! The real desktop app, end to end: under Xvfb with a system tray, driven
//! through tauri-driver/WebKitWebDriver, against a native skiffd with its
//! own seeded registry. Pulls an image through the UI, runs a container
//! from it, sees it and its logs, stops and removes it — each step checked
//! through the engine API — creates and removes a volume and a network,
//! stops a compose project, closes the window to the tray (no WebKit
//! process left) and reopens it from the tray menu, lists and switches the
//! docker contexts, saves a machine setting, turns start at login on and
//! off, reads the engine log in Troubleshoot, and takes screenshots
//! of every view and of the tray menu.

use std::path::Path;
use std::time::{Duration, Instant};

use bollard::query_parameters::InspectContainerOptions;
use fantoccini::{Client, Locator};
use skiff_desktop_e2e::throttle::Throttle;
use skiff_desktop_e2e::{
    Display, Driver, app_binary, preflight, procs, screenshot_root, screenshot_window,
    screenshots_dir, x_command,
};
use skiff_e2e::{Registry, Skiffd, SkiffdOpts};

#[path = "steps/images.rs"]
mod images_steps;
#[path = "steps/settings.rs"]
mod settings_steps;

/// How long the UI gets to show something.
const UI_TIMEOUT: Duration = Duration::from_secs(60);

fn css(selector: &str) -> Locator<'_> {
    Locator::Css(selector)
}

/// Runs one WebDriver exchange, failing the test instead of hanging.
async fn bounded<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(UI_TIMEOUT + Duration::from_secs(10), fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: WebDriver did not answer"),
    }
}

fn step(what: &str) {
    eprintln!("step: {what}");
}

async fn wait_for(c: &Client, selector: &str) -> fantoccini::elements::Element {
    let found = bounded(
        selector,
        c.wait().at_most(UI_TIMEOUT).for_element(css(selector)),
    )
    .await;
    match found {
        Ok(element) => element,
        Err(err) => panic!("waiting for {selector}: {err}"),
    }
}

async fn click(c: &Client, selector: &str) {
    let element = wait_for(c, selector).await;
    if let Err(err) = bounded(selector, element.click()).await {
        panic!("clicking {selector}: {err}");
    }
}

async fn type_into(c: &Client, selector: &str, text: &str) {
    let element = wait_for(c, selector).await;
    if let Err(err) = bounded(selector, element.send_keys(text)).await {
        panic!("typing into {selector}: {err}");
    }
}

async fn count(c: &Client, selector: &str) -> usize {
    bounded(selector, c.find_all(css(selector)))
        .await
        .map_or(0, |all| all.len())
}

async fn wait_gone(c: &Client, selector: &str) {
    let deadline = Instant::now() + UI_TIMEOUT;
    while count(c, selector).await > 0 {
        assert!(Instant::now() < deadline, "{selector} is still shown");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text_of(c: &Client, selector: &str) -> String {
    let element = wait_for(c, selector).await;
    bounded(selector, element.text()).await.unwrap_or_default()
}

/// True when a layer of a pull is downloading (shows bytes).
async fn downloading(c: &Client) -> bool {
    let Ok(layers) = bounded("layers", c.find_all(css("[data-testid=layer-progress]"))).await
    else {
        return false;
    };
    for layer in layers {
        let percent = bounded("percent", layer.attr("data-percent")).await;
        if let Ok(Some(p)) = percent {
            if p.parse::<f64>().is_ok_and(|p| p > 0.0 && p < 100.0) {
                return true;
            }
        }
    }
    false
}

/// Saves the app's window as `dir/name` (from the X server: WebKit's
/// WebDriver snapshot hangs on some views).
async fn screenshot(display: &Display, dir: &Path, name: &str) {
    step(&format!("screenshot {name}"));
    // Let a transition finish painting.
    tokio::time::sleep(Duration::from_millis(100)).await;
    std::fs::create_dir_all(dir).expect("creating the screenshot dir");
    let path = dir.join(name);
    if let Err(err) = screenshot_window(display, "Skiff", &path) {
        panic!("{err}");
    }
    let png = std::fs::read(&path).expect("reading the screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
    eprintln!("screenshot: {}", path.display());
}

/// Waits until `check` (an engine API query) holds.
async fn engine_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "the engine never saw {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Containers and images that make the views look lived in. (Not from
/// busybox, which the test pulls through the UI: the fixtures' alpine is
/// busybox under another name, the same image.)
fn furnish(d: &Skiffd) {
    d.docker_ok(&["pull", "-q", "whiteout"]);
    d.docker_ok(&["tag", "whiteout", "skiff/api:1.4"]);
    d.docker_ok(&["rmi", "whiteout"]);
    d.docker_ok(&["pull", "-q", "hello-world"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "api-server",
        "skiff/api:1.4",
        "sh",
        "-c",
        "while true; do echo serving; sleep 5; done",
    ]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "queue-worker",
        "skiff/api:1.4",
        "sleep",
        "86400",
    ]);
    d.docker_ok(&[
        "run",
        "--name",
        "db-migrate",
        "skiff/api:1.4",
        "echo",
        "migrated",
    ]);
    d.docker_ok(&["run", "--name", "hello", "hello-world"]);
}

/// Removes every container (and the test's network) when the test ends,
/// passed or failed: their processes and bridge would outlive skiffd.
struct RemoveContainers<'a>(&'a Skiffd);

impl Drop for RemoveContainers<'_> {
    fn drop(&mut self) {
        let out = self.0.docker_run(&["ps", "-aq"]);
        let mut args = vec!["rm", "-f"];
        args.extend(out.stdout.split_whitespace());
        if args.len() > 2 {
            let _ = self.0.docker_run(&args);
        }
        // The network the test creates is a bridge on the host.
        let _ = self.0.docker_run(&["network", "rm", "e2e-net"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_run_stop_and_remove_through_the_app() {
    let app = app_binary();
    // Fails (never skips) when the app or a program is missing.
    if let Err(err) = preflight(&app) {
        panic!("{err}");
    }
    // skiffd's mirror is the registry behind a proxy that can slow it.
    let registry = Registry::start();
    let registry_addr = format!("127.0.0.1:{}", registry.port())
        .parse()
        .expect("registry address");
    let throttle = Throttle::start(registry_addr).await.expect("the proxy");
    // A registry with htpasswd auth: the app signs in to it and pushes.
    let auth_registry = Registry::start_with_htpasswd("alice", "s3cret-pw");
    let d = Skiffd::start(
        SkiffdOpts::default()
            .mirrors([throttle.url()])
            .insecure_registry(throttle.host())
            .forward(auth_registry.port()),
    );
    let _cleanup = RemoveContainers(&d);
    furnish(&d);
    let engine = d.bollard();
    let shots = screenshots_dir();

    let mut display = Display::start(1440, 900).expect("Xvfb");
    display.start_tray().expect("trayer");
    let home = tempfile_home(&d);
    // The app's Downloads folder (the Files tab saves there), inside the
    // run's directory: XDG's user-dirs.dirs under the app's config home.
    let downloads = d.dir().join("downloads");
    let user_dirs = d.dir().join("app-state").join("config");
    std::fs::create_dir_all(&user_dirs).expect("the app's config dir");
    std::fs::write(
        user_dirs.join("user-dirs.dirs"),
        format!("XDG_DOWNLOAD_DIR=\"{}\"\n", downloads.display()),
    )
    .expect("user-dirs.dirs");
    // The docker CLI config the app signs in through (and the CLI reads).
    let app_docker = d.dir().join("app-docker");
    std::fs::create_dir_all(&app_docker).expect("the app's docker config dir");
    let driver = Driver::start(
        &display,
        &[
            ("SKIFF_DOCKER_HOST", d.docker_host()),
            ("DOCKER_CONFIG", app_docker.display().to_string()),
            ("SKIFF_HOME", home.clone()),
            // Sign-in links docker-credential-skiff into this HOME's
            // ~/.local/bin, the one PATH folder of the user's.
            ("HOME", images_steps::app_home(&d).display().to_string()),
            ("PATH", images_steps::app_path(&d)),
            ("RUST_LOG", "info".to_string()),
            (
                "SKIFF_ENGINE_LOG",
                d.dir().join("skiffd.log").display().to_string(),
            ),
        ],
        &d.dir().join("app-state"),
        &d.dir().join("tauri-driver.log"),
    )
    .expect("tauri-driver");
    let c = driver.session(&app).await.expect("a session with the app");

    // The containers view lists what the CLI made.
    step("the containers view");
    click(&c, "[data-testid=nav-containers]").await;
    wait_for(
        &c,
        "[data-testid=container-row][data-name=api-server][data-state=running]",
    )
    .await;
    wait_for(
        &c,
        "[data-testid=container-row][data-name=hello][data-state=exited]",
    )
    .await;
    let status = text_of(&c, "[data-testid=engine-status]").await;
    assert!(!status.is_empty());

    // Pull busybox through the UI.
    step("pull busybox");
    click(&c, "[data-testid=nav-images]").await;
    wait_for(&c, "[data-testid=view-images]").await;
    type_into(&c, "[data-testid=pull-input]", "busybox").await;
    click(&c, "[data-testid=pull-button]").await;
    wait_for(&c, "[data-testid=image-row][data-ref='busybox:latest']").await;
    let image = engine
        .inspect_image("busybox:latest")
        .await
        .expect("the engine has busybox:latest");
    assert!(image.id.is_some_and(|id| id.starts_with("sha256:")));

    // Its layers: docker history's steps, each with its instruction.
    step("image layers");
    click(
        &c,
        "[data-testid=image-row][data-ref='busybox:latest'] [data-testid=image-layers]",
    )
    .await;
    wait_for(&c, "[data-testid=layers-dialog] [data-testid=layer-row]").await;
    let history = engine
        .image_history("busybox:latest")
        .await
        .expect("the engine's history");
    assert_eq!(
        count(&c, "[data-testid=layers-dialog] [data-testid=layer-row]").await,
        history.len()
    );
    screenshot(&display, &shots, "image-layers.png").await;
    click(&c, "[data-testid=layers-dialog] [aria-label=Close]").await;

    // A 100 MiB pull, caught in progress for the screenshot.
    step("pull big");
    // Slowed down (3 MB/s a connection) until the screenshot shows it in
    // progress.
    throttle.limit(3_000_000);
    type_into(&c, "[data-testid=pull-input]", "big").await;
    click(&c, "[data-testid=pull-button]").await;
    wait_for(&c, "[data-testid=pull-progress][data-reference=big]").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !downloading(&c).await && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    screenshot(&display, &shots, "images-pull.png").await;
    throttle.limit(0);
    wait_for(&c, "[data-testid=image-row][data-ref='big:latest']").await;
    engine_until("big:latest", || async {
        engine.inspect_image("big:latest").await.is_ok()
    })
    .await;

    // Run a container from busybox through the run dialog.
    step("run e2e-web");
    click(
        &c,
        "[data-testid=image-row][data-ref='busybox:latest'] [data-testid=image-run]",
    )
    .await;
    type_into(&c, "[data-testid=run-name]", "e2e-web").await;
    click(&c, "[data-testid=run-env-add]").await;
    type_into(&c, "[data-testid=run-env-key]", "GREETING").await;
    type_into(&c, "[data-testid=run-env-value]", "hello from skiff").await;
    type_into(
        &c,
        "[data-testid=run-cmd]",
        "sh -c 'echo \"$GREETING\"; i=0; while true; do i=$((i+1)); echo \"tick $i\"; sleep 1; done'",
    )
    .await;
    click(&c, "[data-testid=run-submit]").await;
    let row = "[data-testid=container-row][data-name=e2e-web]";
    wait_for(&c, &format!("{row}[data-state=running]")).await;
    let inspect = engine
        .inspect_container("e2e-web", None::<InspectContainerOptions>)
        .await
        .expect("the engine has e2e-web");
    assert_eq!(inspect.state.and_then(|s| s.running), Some(true));
    let env = inspect.config.and_then(|c| c.env).unwrap_or_default();
    assert!(
        env.contains(&"GREETING=hello from skiff".to_string()),
        "{env:?}"
    );

    screenshot(&display, &shots, "containers.png").await;

    // Its logs in the details panel.
    step("logs");
    click(&c, &format!("{row} [data-testid=container-name]")).await;
    wait_for(&c, "[data-testid=details-panel]").await;
    click(&c, "[data-testid=tab-logs]").await;
    let deadline = Instant::now() + UI_TIMEOUT;
    loop {
        let logs = text_of(&c, "[data-testid=logs-output]").await;
        if logs.contains("hello from skiff") && logs.contains("tick 3") {
            break;
        }
        assert!(Instant::now() < deadline, "logs never showed: {logs}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    screenshot(&display, &shots, "container-logs.png").await;
    stats_tab(&c, &display, &shots).await;
    terminal_tab(&c, &display, &shots).await;
    files_tab(&c, &display, &shots, &downloads).await;
    click(&c, "[data-testid=details-close]").await;

    // Stop it.
    step("stop");
    click(&c, &format!("{row} [data-testid=action-stop]")).await;
    wait_for(&c, &format!("{row}[data-state=exited]")).await;
    engine_until("e2e-web stopped", || async {
        engine
            .inspect_container("e2e-web", None::<InspectContainerOptions>)
            .await
            .ok()
            .and_then(|i| i.state)
            .and_then(|s| s.running)
            == Some(false)
    })
    .await;

    // Remove it (confirming if the UI asks).
    step("remove");
    click(&c, &format!("{row} [data-testid=action-remove]")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    if count(&c, "[data-testid=confirm-button]").await > 0 {
        click(&c, "[data-testid=confirm-button]").await;
    }
    wait_gone(&c, row).await;
    engine_until("e2e-web removed", || async {
        engine
            .inspect_container("e2e-web", None::<InspectContainerOptions>)
            .await
            .is_err()
    })
    .await;

    images_steps::build_and_run(&c, &display, &shots, &d).await;
    images_steps::sign_in_and_push(&c, &display, &shots, &d, &app_docker, &auth_registry).await;

    volumes_view(&c, &display, &shots, &d).await;
    networks_view(&c, &display, &shots, &d).await;
    compose_project(&c, &display, &shots, &d).await;

    // The machine view: the default machine, created and stopped.
    step("the machine view");
    click(&c, "[data-testid=nav-machine]").await;
    wait_for(&c, "[data-testid=machine-state][data-state=stopped]").await;
    assert_eq!(text_of(&c, "[data-testid=machine-cpus]").await.trim(), "2");
    tokio::time::sleep(Duration::from_millis(300)).await;
    screenshot(&display, &shots, "machine.png").await;

    settings_steps::settings_view(
        &c,
        &display,
        &shots,
        &app_docker,
        Path::new(&home),
        &user_dirs,
    )
    .await;
    settings_steps::troubleshoot_view(&c, &display, &shots, &d).await;

    // The tray menu, from the whole screen.
    step("the tray menu");
    tray_menu_screenshot(&display, &shots);

    close_to_tray_and_reopen(&c, &display, &shots, &driver).await;
    // The session's webview is gone with the window it drove.
    let _ = tokio::time::timeout(Duration::from_secs(5), c.close()).await;
    drop(driver);

    dark_screenshots(&display, &d, &app).await;
}

/// The Stats tab of the open details panel: samples from the live
/// `/stats` stream reach the charts.
async fn stats_tab(c: &Client, display: &Display, shots: &Path) {
    step("stats");
    click(c, "[data-testid=tab-stats]").await;
    let deadline = Instant::now() + UI_TIMEOUT;
    loop {
        let chart = wait_for(c, "[data-testid=stats-cpu]").await;
        let points = bounded("points", chart.attr("data-points"))
            .await
            .ok()
            .flatten()
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(0);
        if points >= 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stats never charted 4 samples"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let memory = text_of(c, "[data-testid=stats-memory-memory]").await;
    assert!(memory.ends_with('B'), "memory shown as {memory:?}");
    screenshot(display, shots, "container-stats.png").await;
}

/// The Terminal tab: `exec -it` a shell in xterm.js, type a command and
/// read its output back from the terminal's screen.
async fn terminal_tab(c: &Client, display: &Display, shots: &Path) {
    step("terminal");
    click(c, "[data-testid=tab-terminal]").await;
    wait_for(c, "[data-testid=terminal-view][data-state=open]").await;
    // xterm.js takes keys through its helper textarea.
    type_into(
        c,
        "[data-testid=terminal-screen] .xterm-helper-textarea",
        "echo skiff-$((6*7)) from $(hostname)\u{E007}",
    )
    .await;
    let deadline = Instant::now() + UI_TIMEOUT;
    loop {
        let screen = text_of(c, "[data-testid=terminal-screen] .xterm-rows").await;
        if screen.contains("skiff-42 from") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the terminal never echoed: {screen}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    screenshot(display, shots, "container-terminal.png").await;
}

/// The Files tab: browse the container's `/etc` through the archive API
/// and download its `hostname` into the Downloads folder.
async fn files_tab(c: &Client, display: &Display, shots: &Path, downloads: &Path) {
    step("files");
    click(c, "[data-testid=tab-files]").await;
    click(
        c,
        "[data-testid=file-row][data-name=etc][data-kind=dir] button",
    )
    .await;
    wait_for(
        c,
        "[data-testid=files-view][data-path='/etc'][data-loading=false]",
    )
    .await;
    wait_for(
        c,
        "[data-testid=file-row][data-name=passwd][data-kind=file]",
    )
    .await;
    screenshot(display, shots, "container-files.png").await;
    click(
        c,
        "[data-testid=file-row][data-name=hostname] [data-testid=file-download]",
    )
    .await;
    let saved = downloads.join("hostname");
    let deadline = Instant::now() + UI_TIMEOUT;
    while !saved.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            saved.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let text = std::fs::read_to_string(&saved).expect("the downloaded file");
    assert!(!text.trim().is_empty(), "an empty hostname was downloaded");
}

/// The app again, in a dark GTK theme (WebKit then answers
/// `prefers-color-scheme: dark`): screenshots of the views.
async fn dark_screenshots(display: &Display, d: &Skiffd, app: &Path) {
    step("dark theme");
    let shots = screenshots_dir();
    let driver = Driver::start(
        display,
        &[
            ("SKIFF_DOCKER_HOST", d.docker_host()),
            (
                "SKIFF_HOME",
                d.dir().join("skiff-home").display().to_string(),
            ),
            ("GTK_THEME", "Adwaita:dark".to_string()),
            (
                "DOCKER_CONFIG",
                d.dir().join("app-docker").display().to_string(),
            ),
            (
                "SKIFF_ENGINE_LOG",
                d.dir().join("skiffd.log").display().to_string(),
            ),
        ],
        &d.dir().join("app-state-dark"),
        &d.dir().join("tauri-driver-dark.log"),
    )
    .expect("tauri-driver");
    let c = driver.session(app).await.expect("a session with the app");
    click(&c, "[data-testid=nav-containers]").await;
    wait_for(&c, "[data-testid=project-row][data-project=shop]").await;
    let dark = bounded(
        "color scheme",
        c.execute(
            "return matchMedia('(prefers-color-scheme: dark)').matches;",
            vec![],
        ),
    )
    .await
    .expect("asking the page");
    assert_eq!(dark, serde_json::Value::Bool(true), "the page is not dark");
    screenshot(display, &shots, "containers-dark.png").await;
    click(&c, "[data-testid=nav-volumes]").await;
    wait_for(&c, "[data-testid=volume-row][data-name=app-data]").await;
    screenshot(display, &shots, "volumes-dark.png").await;
    click(&c, "[data-testid=nav-networks]").await;
    wait_for(&c, "[data-testid=network-row][data-name=bridge]").await;
    screenshot(display, &shots, "networks-dark.png").await;
    click(&c, "[data-testid=nav-settings]").await;
    wait_for(&c, "[data-testid=context-row][data-name=skiff]").await;
    wait_for(&c, "[data-testid=settings-cpus]").await;
    // Loaded is not yet painted on a loaded machine.
    tokio::time::sleep(Duration::from_millis(500)).await;
    screenshot(display, &shots, "settings-dark.png").await;
    click(&c, "[data-testid=nav-troubleshoot]").await;
    wait_for(&c, "[data-testid=engine-log-source][title$='skiffd.log']").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    screenshot(display, &shots, "troubleshoot-dark.png").await;
    let _ = tokio::time::timeout(Duration::from_secs(5), c.close()).await;
}

/// Creates a volume through the Volumes view, sees a container's volume
/// marked in use, removes the new one; each step checked through the
/// engine.
async fn volumes_view(c: &Client, display: &Display, shots: &Path, d: &Skiffd) {
    step("the volumes view");
    let engine = d.bollard();
    d.docker_ok(&["volume", "create", "app-data"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "vol-user",
        "-v",
        "app-data:/data",
        "skiff/api:1.4",
        "sleep",
        "86400",
    ]);
    click(c, "[data-testid=nav-volumes]").await;
    wait_for(c, "[data-testid=view-volumes]").await;
    let used = "[data-testid=volume-row][data-name=app-data][data-in-use=true]";
    wait_for(c, used).await;
    assert!(
        text_of(c, &format!("{used} [data-testid=volume-used-by]"))
            .await
            .contains("vol-user")
    );

    step("create volume e2e-data");
    click(c, "[data-testid=volume-create]").await;
    type_into(c, "[data-testid=volume-name]", "e2e-data").await;
    type_into(c, "[data-testid=volume-labels]", "purpose=e2e").await;
    click(c, "[data-testid=volume-submit]").await;
    let row = "[data-testid=volume-row][data-name=e2e-data]";
    wait_for(c, &format!("{row}[data-in-use=false]")).await;
    let volume = engine
        .inspect_volume("e2e-data")
        .await
        .expect("the engine has e2e-data");
    assert_eq!(
        volume.labels.get("purpose").map(String::as_str),
        Some("e2e")
    );
    screenshot(display, shots, "volumes.png").await;

    step("remove volume e2e-data");
    click(c, &format!("{row} [data-testid=volume-remove]")).await;
    click(c, "[data-testid=confirm-button]").await;
    wait_gone(c, row).await;
    engine_until("e2e-data removed", || async {
        engine.inspect_volume("e2e-data").await.is_err()
    })
    .await;
}

/// Creates a network with a subnet through the Networks view, sees a
/// container on it with its address, removes it; each step checked
/// through the engine.
async fn networks_view(c: &Client, display: &Display, shots: &Path, d: &Skiffd) {
    step("the networks view");
    let engine = d.bollard();
    click(c, "[data-testid=nav-networks]").await;
    wait_for(c, "[data-testid=view-networks]").await;
    wait_for(c, "[data-testid=network-row][data-name=bridge]").await;

    step("create network e2e-net");
    click(c, "[data-testid=network-create]").await;
    type_into(c, "[data-testid=network-name]", "e2e-net").await;
    type_into(c, "[data-testid=network-subnet]", "10.213.7.0/24").await;
    click(c, "[data-testid=network-submit]").await;
    let row = "[data-testid=network-row][data-name=e2e-net]";
    wait_for(c, row).await;
    assert!(
        text_of(c, &format!("{row} [data-testid=network-subnet-cell]"))
            .await
            .contains("10.213.7.0/24")
    );
    let net = engine
        .inspect_network(
            "e2e-net",
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .expect("the engine has e2e-net");
    let subnet = net.ipam.and_then(|i| i.config).unwrap_or_default();
    assert_eq!(
        subnet.first().and_then(|s| s.subnet.as_deref()),
        Some("10.213.7.0/24")
    );

    // A container on it shows with its address (the list follows /events).
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "net-user",
        "--network",
        "e2e-net",
        "skiff/api:1.4",
        "sleep",
        "86400",
    ]);
    let attached = format!("{row} [data-testid=network-container][data-name=net-user]");
    wait_for(c, &attached).await;
    let deadline = Instant::now() + UI_TIMEOUT;
    while !text_of(c, &attached).await.contains("10.213.7.") {
        assert!(Instant::now() < deadline, "net-user's address never showed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    screenshot(display, shots, "networks.png").await;
    d.docker_ok(&["rm", "-f", "net-user"]);
    wait_gone(c, &attached).await;

    step("remove network e2e-net");
    click(c, &format!("{row} [data-testid=network-remove]")).await;
    click(c, "[data-testid=confirm-button]").await;
    wait_gone(c, row).await;
    engine_until("e2e-net removed", || async {
        engine
            .inspect_network(
                "e2e-net",
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
            .is_err()
    })
    .await;
}

/// Two containers labelled as compose project `shop` show as one group;
/// stopping the group stops both (checked through the engine).
async fn compose_project(c: &Client, display: &Display, shots: &Path, d: &Skiffd) {
    step("a compose project");
    let engine = d.bollard();
    for service in ["web", "db"] {
        let name = format!("shop-{service}-1");
        let service_label = format!("com.docker.compose.service={service}");
        d.docker_ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--label",
            "com.docker.compose.project=shop",
            "--label",
            &service_label,
            "skiff/api:1.4",
            "sleep",
            "86400",
        ]);
    }
    click(c, "[data-testid=nav-containers]").await;
    let project = "[data-testid=project-row][data-project=shop]";
    wait_for(c, &format!("{project}[data-state=running]")).await;
    wait_for(
        c,
        "[data-testid=container-row][data-project=shop][data-name=shop-db-1]",
    )
    .await;
    screenshot(display, shots, "containers-compose.png").await;

    step("stop the project");
    click(c, &format!("{project} [data-testid=project-stop]")).await;
    wait_for(c, &format!("{project}[data-state=exited]")).await;
    for name in ["shop-web-1", "shop-db-1"] {
        engine_until(&format!("{name} stopped"), || async {
            engine
                .inspect_container(name, None::<InspectContainerOptions>)
                .await
                .ok()
                .and_then(|i| i.state)
                .and_then(|s| s.running)
                == Some(false)
        })
        .await;
    }
}

/// Closes the main window (as its close button would: a close request):
/// the app keeps running in the tray, the window and its web process
/// (the page) are gone; the tray's Open Dashboard re-creates the window,
/// whose page restores the view. The app hands over to the tray program
/// (`skiff-tray`, no WebKit linked) when its window closes (same pid), so
/// no WebKit process is left at all, and Open Dashboard hands back.
async fn close_to_tray_and_reopen(c: &Client, display: &Display, shots: &Path, driver: &Driver) {
    step("close the window to the tray");
    click(c, "[data-testid=nav-networks]").await;
    wait_for(c, "[data-testid=view-networks]").await;
    let app = procs::find_descendant(driver.pid(), "skiff-desktop").expect("the app's process");
    assert!(
        !procs::web_processes(app).is_empty(),
        "no WebKit web process under the app"
    );
    // The page asks for its window to close: the close request a window
    // manager's close button makes (Xvfb has no window manager).
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        c.execute(
            "window.__TAURI_INTERNALS__.invoke('plugin:window|close', { label: 'main' }); return true;",
            vec![],
        ),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let web = procs::web_processes(app);
        let window = x_command(display, "xwininfo", &["-name", "Skiff"]).is_some();
        if web.is_empty() && !window {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after closing: window still there: {window}, web processes: {web:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Settle, then report the app's memory (no timed or size assertion:
    // the figures are bench/desktop.sh's).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = procs::rss_kib(app).expect("the app still runs in the tray");
    let rest: Vec<String> = procs::webkit_processes(app)
        .iter()
        .map(|p| {
            format!(
                "{} {:.1} MiB",
                p.comm,
                procs::rss_kib(p.pid).unwrap_or(0) as f64 / 1024.0
            )
        })
        .collect();
    eprintln!(
        "tray-only: app RSS {:.1} MiB; WebKit processes left: {rest:?}",
        rss as f64 / 1024.0
    );
    assert!(
        procs::webkit_processes(app).is_empty(),
        "WebKit processes left in the tray: {rest:?}"
    );
    assert_eq!(
        procs::find_descendant(driver.pid(), "skiff-tray"),
        Some(app),
        "the tray program holds the tray in the app's process (cargo build -p skiff-tray)"
    );

    step("reopen from the tray menu");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // Up from no selection reaches Quit, Up again Open Dashboard (GTK
        // skips separators and disabled items).
        open_tray_menu(display);
        for key in ["Up", "Up", "Return"] {
            let _ = x_command(display, "xdotool", &["key", key]);
            std::thread::sleep(Duration::from_millis(150));
        }
        let shown =
            |display: &Display| x_command(display, "xwininfo", &["-name", "Skiff"]).is_some();
        let until = Instant::now() + Duration::from_secs(15);
        while !shown(display) && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if shown(display) {
            break;
        }
        let _ = x_command(display, "xdotool", &["key", "Escape"]);
        assert!(
            Instant::now() < deadline,
            "Open Dashboard never brought the window back"
        );
    }
    assert_eq!(
        procs::find_descendant(driver.pid(), "skiff-desktop"),
        Some(app),
        "the same app process"
    );
    let deadline = Instant::now() + UI_TIMEOUT;
    while !driver.log().contains(r#""view":"networks""#) {
        assert!(
            Instant::now() < deadline,
            "the new page never restored its view:\n{}",
            driver.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        !procs::webkit_processes(app).is_empty(),
        "the new window has no WebKit process"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    screenshot(display, shots, "reopened.png").await;
}

/// Clicks the tray icon (in trayer), which opens its menu.
fn open_tray_menu(display: &Display) {
    let (cx, cy) = tray_icon_center(display);
    let _ = x_command(
        display,
        "xdotool",
        &["mousemove", &cx.to_string(), &cy.to_string()],
    );
    let _ = x_command(display, "xdotool", &["click", "1"]);
    std::thread::sleep(Duration::from_millis(800));
}

/// The centre of the app's icon in trayer's panel.
fn tray_icon_center(display: &Display) -> (i64, i64) {
    let tree = x_command(display, "xwininfo", &["-root", "-tree"]).expect("xwininfo");
    // trayer's window is called "panel"; the icon sits inside it.
    let panel = tree
        .lines()
        .find(|l| l.contains("\"panel\""))
        .unwrap_or_else(|| panic!("no trayer panel in:\n{tree}"));
    let (x, y, w, h) = geometry(panel).unwrap_or_else(|| panic!("geometry of {panel}"));
    assert!(w >= 16, "the tray holds no icon: {panel}");
    (x + w / 2, y + h / 2)
}

/// Opens the tray icon's menu in trayer and saves the screen's top right
/// corner as `tray.png`.
fn tray_menu_screenshot(display: &Display, dir: &Path) {
    let full = dir.join("tray-full.png");
    open_tray_menu(display);
    screenshot_root(display, &full).expect("screenshot of the screen");
    let crop = dir.join("tray.png");
    let status = std::process::Command::new("convert")
        .arg(&full)
        .args(["-gravity", "NorthEast", "-crop", "420x340+0+0", "+repage"])
        .arg(&crop)
        .status()
        .expect("convert");
    assert!(status.success());
    let _ = std::fs::remove_file(&full);
    eprintln!("screenshot: {}", crop.display());
    let _ = x_command(display, "xdotool", &["key", "Escape"]);
}

/// `(x, y, width, height)` from an `xwininfo -tree` line
/// (`… 40x30+1400+0  +1400+0`).
fn geometry(line: &str) -> Option<(i64, i64, i64, i64)> {
    let field = line.split_whitespace().find(|f| {
        f.contains('x') && f.contains('+') && f.chars().next().is_some_and(|c| c.is_ascii_digit())
    })?;
    let absolute = line.split_whitespace().last()?;
    let (size, _) = field.split_once('+')?;
    let (w, h) = size.split_once('x')?;
    let mut abs = absolute.trim_start_matches('+').split('+');
    let x = abs.next()?.parse().ok()?;
    let y = abs.next()?.parse().ok()?;
    Some((x, y, w.parse().ok()?, h.parse().ok()?))
}

/// A `SKIFF_HOME` inside the daemon's temp dir holding a created (and
/// stopped) default machine, for the machine view.
fn tempfile_home(d: &Skiffd) -> String {
    let home = d.dir().join("skiff-home");
    let manager = skiff_machine::Manager::with_home(home.clone());
    manager
        .create(&skiff_machine::MachineConfig::new(
            skiff_machine::DEFAULT_MACHINE,
        ))
        .expect("creating the default machine");
    home.display().to_string()
}
