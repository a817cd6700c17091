//! Settings and Troubleshoot steps of the app's end-to-end test: the
//! docker contexts the app lists are the docker CLI's own (`docker context
//! ls`), switching one is what `docker context show` then prints; a memory
//! setting with a unit reaches the machine's `config.json`; start at login
//! writes the XDG autostart entry; the engine log shows what the live
//! skiffd wrote.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use fantoccini::Client;
use skiff_desktop_e2e::Display;
use skiff_e2e::Skiffd;

use super::{UI_TIMEOUT, bounded, click, count, screenshot, step, text_of, type_into, wait_for};

/// `docker ARGS` with `DOCKER_CONFIG=config` and nothing in the
/// environment that overrides the current context.
fn docker_cli(config: &Path, args: &[&str]) -> String {
    let out = Command::new(skiff_e2e::docker::docker_bin())
        .args(args)
        .env("DOCKER_CONFIG", config)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .output()
        .expect("running docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The Settings view against the app's docker config and machine home.
pub async fn settings_view(
    c: &Client,
    display: &Display,
    shots: &Path,
    app_docker: &Path,
    skiff_home: &Path,
    app_config: &Path,
) {
    step("the settings view");
    // The machine's own writer makes `skiff`; another engine's context too.
    skiff_machine::docker_context::write_context(
        app_docker,
        "skiff",
        &format!(
            "unix://{}",
            skiff_home.join("machines/default/docker.sock").display()
        ),
        "Skiff machine default",
    )
    .expect("the skiff context");
    skiff_machine::docker_context::write_context(
        app_docker,
        "colima",
        "unix:///nonexistent/colima/docker.sock",
        "colima",
    )
    .expect("another context");
    click(c, "[data-testid=nav-settings]").await;
    wait_for(c, "[data-testid=context-row][data-name=colima]").await;
    let cli: Vec<String> = docker_cli(app_docker, &["context", "ls", "--format", "{{.Name}}"])
        .lines()
        .map(|l| l.trim().to_string())
        .collect();
    for name in &cli {
        assert_eq!(
            count(c, &format!("[data-testid=context-row][data-name='{name}']")).await,
            1,
            "the app does not list the CLI's context {name} (CLI: {cli:?})"
        );
    }
    assert_eq!(
        count(c, "[data-testid=context-row]").await,
        cli.len(),
        "the app lists contexts the CLI does not: {cli:?}"
    );
    let current = docker_cli(app_docker, &["context", "show"]);
    wait_for(
        c,
        &format!(
            "[data-testid=context-row][data-name='{}'][data-current=true]",
            current.trim()
        ),
    )
    .await;

    step("switch the docker context to skiff");
    click(
        c,
        "[data-testid=context-row][data-name=skiff] [data-testid=context-use]",
    )
    .await;
    wait_for(
        c,
        "[data-testid=context-row][data-name=skiff][data-current=true]",
    )
    .await;
    let deadline = Instant::now() + UI_TIMEOUT;
    while docker_cli(app_docker, &["context", "show"]).trim() != "skiff" {
        assert!(
            Instant::now() < deadline,
            "docker context show never said skiff"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    step("memory with a unit");
    let memory = "[data-testid=settings-memory]";
    let field = wait_for(c, memory).await;
    let value = bounded("the memory field", field.prop("value")).await;
    assert_eq!(value.ok().flatten().as_deref(), Some("2G"));
    field.clear().await.expect("clearing the memory field");
    type_into(c, memory, "3Q").await;
    wait_for(c, "[data-testid=settings-memory-problem]").await;
    field.clear().await.expect("clearing the memory field");
    type_into(c, memory, "3G").await;
    click(c, "[data-testid=settings-apply]").await;
    click(c, "[data-testid=confirm-button]").await;
    let config = skiff_home.join("machines/default/config.json");
    let deadline = Instant::now() + UI_TIMEOUT;
    loop {
        let text = std::fs::read_to_string(&config).expect("the machine's config.json");
        if text.contains("\"memory_mib\": 3072") {
            break;
        }
        assert!(Instant::now() < deadline, "memory never saved: {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    step("start at login");
    click(c, "[data-testid=autostart-toggle]").await;
    let entry = app_config.join("autostart/skiff-desktop.desktop");
    let deadline = Instant::now() + UI_TIMEOUT;
    while !entry.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never written",
            entry.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let text = std::fs::read_to_string(&entry).expect("the autostart entry");
    assert!(text.contains("skiff-desktop\" --tray"), "{text}");
    wait_for(c, "[data-testid=autostart-location]").await;
    screenshot(display, shots, "settings.png").await;
    click(c, "[data-testid=autostart-toggle]").await;
    let deadline = Instant::now() + UI_TIMEOUT;
    while entry.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never removed",
            entry.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The Troubleshoot view: the engine log holds a line the live skiffd
/// wrote (its log file, `SKIFF_ENGINE_LOG`), the VM console tab answers.
pub async fn troubleshoot_view(c: &Client, display: &Display, shots: &Path, d: &Skiffd) {
    step("the troubleshoot view");
    let log = std::fs::read_to_string(d.dir().join("skiffd.log")).expect("skiffd.log");
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains(" INFO ") || l.contains(" WARN "))
        .expect("skiffd logged something")
        .to_string();
    // The message part (after the level), as the view shows it verbatim.
    let chars: Vec<char> = line.chars().collect();
    let message: String = chars[chars.len().saturating_sub(40)..].iter().collect();
    click(c, "[data-testid=nav-troubleshoot]").await;
    let deadline = Instant::now() + UI_TIMEOUT;
    loop {
        let shown = text_of(c, "[data-testid=engine-log]").await;
        if shown.contains(message.trim()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the engine log never showed {message:?}: {shown}"
        );
        click(c, "[data-testid=engine-log-refresh]").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Its full path is the title (the text may be cut to fit).
    let source = wait_for(c, "[data-testid=engine-log-source]").await;
    let source = bounded("the log's source", source.attr("title")).await;
    assert_eq!(
        source.ok().flatten().as_deref(),
        Some(d.dir().join("skiffd.log").display().to_string().as_str())
    );
    screenshot(display, shots, "troubleshoot.png").await;
    click(c, "[data-testid=tab-vm-log]").await;
    // The machine of this run was created, never booted: an empty console.
    assert!(
        text_of(c, "[data-testid=machine-console]")
            .await
            .contains("console is empty")
    );
}
