//! The credential routing of [`Registries`]: the configured helper, else
//! the keychain plus the app's `credHelpers` entry.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use super::keychain::MemorySecrets;
use super::*;

fn registries(config: &Path) -> (Registries, Keychain) {
    let dir = config.parent().expect("the config's folder");
    let home = dir.join("home");
    let bin = home.join(".local/bin");
    std::fs::create_dir_all(&bin).expect("~/.local/bin");
    registries_with_path(config, std::env::join_paths([&bin]).expect("PATH"))
}

/// Over `config`, with the app's helper in `<config's folder>/app`, the
/// home `<config's folder>/home` and the CLI's `PATH` `path`.
fn registries_with_path(config: &Path, path: std::ffi::OsString) -> (Registries, Keychain) {
    let dir = config.parent().expect("the config's folder");
    let app = dir.join("app");
    std::fs::create_dir_all(&app).expect("app dir");
    let helper = app.join(cli_path::HELPER_PROGRAM);
    std::fs::write(&helper, "#!/bin/sh\n").expect("helper");
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let chain = Keychain::new(Arc::new(MemorySecrets::default()));
    let shared = chain.clone();
    let reg = Registries::new(Some(config.to_path_buf()), Arc::new(move || shared.clone()))
        .with_cli_path(CliPath::new(helper, path, Some(dir.join("home"))));
    (reg, chain)
}

#[test]
fn a_helper_the_cli_cannot_find_is_never_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.json");
    std::fs::write(&config, r#"{"detachKeys":"ctrl-x"}"#).expect("write");
    let (reg, chain) = registries_with_path(&config, "/nonexistent/bin".into());
    let err = reg
        .store(&creds("127.0.0.1:5000"))
        .expect_err("no PATH folder of the user's");
    assert!(err.to_string().contains("export PATH="), "{err}");
    assert_eq!(
        std::fs::read_to_string(&config).expect("read"),
        r#"{"detachKeys":"ctrl-x"}"#
    );
    assert_eq!(chain.get("127.0.0.1:5000").expect("get"), None);
}

fn creds(server: &str) -> HelperCredentials {
    HelperCredentials {
        server_url: server.into(),
        username: "alice".into(),
        secret: "s3cret".into(),
    }
}

#[test]
fn server_keys_follow_the_cli() {
    assert_eq!(server_key(""), DOCKER_HUB);
    assert_eq!(server_key("docker.io"), DOCKER_HUB);
    assert_eq!(server_key("https://index.docker.io/v1/"), DOCKER_HUB);
    assert_eq!(server_key("http://127.0.0.1:5000/"), "127.0.0.1:5000");
    assert_eq!(server_key(" GHCR.io "), "ghcr.io");
    assert_eq!(server_of("alpine:3").expect("ref"), DOCKER_HUB);
    assert_eq!(
        server_of("127.0.0.1:5000/a/b:1").expect("ref"),
        "127.0.0.1:5000"
    );
}

#[test]
fn without_a_helper_the_keychain_keeps_it_and_the_cli_is_pointed_at_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        r#"{"auths":{"127.0.0.1:5000":{"auth":"YWxpY2U6b2xk"}},"detachKeys":"ctrl-x"}"#,
    )
    .expect("write");
    let (reg, chain) = registries(&config);
    assert_eq!(
        reg.stored("127.0.0.1:5000")
            .expect("plain")
            .map(|c| c.secret),
        Some("old".to_string()),
        "the CLI's plain entry is read"
    );
    assert_eq!(
        reg.store(&creds("127.0.0.1:5000")).expect("store"),
        "session keyring"
    );
    assert!(
        dir.path()
            .join("home/.local/bin")
            .join(cli_path::HELPER_PROGRAM)
            .exists(),
        "the helper is on the CLI's PATH"
    );
    let text = std::fs::read_to_string(&config).expect("read");
    assert!(
        !text.contains("s3cret") && !text.contains("YWxpY2U6"),
        "{text}"
    );
    let parsed = DockerConfig::read(&config).expect("read");
    assert_eq!(
        parsed.helper_for("127.0.0.1:5000").as_deref(),
        Some(OUR_HELPER)
    );
    assert!(text.contains("detachKeys"));
    assert_eq!(
        chain.get("127.0.0.1:5000").expect("get"),
        Some(creds("127.0.0.1:5000"))
    );
    let header = reg
        .auth_header_for("127.0.0.1:5000/app:1")
        .expect("signed in");
    let json = base64::engine::general_purpose::URL_SAFE
        .decode(header)
        .expect("base64url");
    let json: serde_json::Value = serde_json::from_slice(&json).expect("json");
    assert_eq!(json["username"], "alice");
    assert_eq!(json["serveraddress"], "127.0.0.1:5000");
    assert_eq!(
        reg.list().expect("list"),
        [SignedIn {
            server: "127.0.0.1:5000".into(),
            username: Some("alice".into()),
            store: "session keyring".into(),
        }]
    );
    reg.sign_out("127.0.0.1:5000").expect("sign out");
    assert_eq!(chain.get("127.0.0.1:5000").expect("get"), None);
    assert_eq!(
        DockerConfig::read(&config)
            .expect("read")
            .helper_for("127.0.0.1:5000"),
        None
    );
    assert!(reg.list().expect("list").is_empty());
    assert_eq!(reg.auth_header_for("127.0.0.1:5000/app"), None);
}

#[test]
fn a_configured_helper_gets_the_credentials() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    // A helper keeping one server in a file, speaking the protocol.
    let store = dir.path().join("store.json");
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in\n store) cat > {s} ;;\n get) if [ -f {s} ]; then cat {s}; else echo 'credentials not found in native keychain'; exit 1; fi ;;\n erase) rm -f {s} ;;\n list) if [ -f {s} ]; then echo '{{\"127.0.0.1:5000\":\"alice\"}}'; else echo '{{}}'; fi ;;\nesac\n",
        s = store.display()
    );
    let helper = bin.join("docker-credential-skifftest");
    std::fs::write(&helper, script).expect("write");
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let config = dir.path().join("config.json");
    std::fs::write(&config, r#"{"credsStore":"skifftest"}"#).expect("write");
    let (reg, chain) = registries(&config);
    let reg = reg.with_helpers_in(bin);
    assert_eq!(reg.stored("127.0.0.1:5000").expect("none"), None);
    assert_eq!(
        reg.store(&creds("127.0.0.1:5000")).expect("store"),
        "helper skifftest"
    );
    assert!(
        std::fs::read_to_string(&store)
            .expect("stored")
            .contains("s3cret")
    );
    assert!(
        chain.list().expect("list").is_empty(),
        "the keychain is not used"
    );
    assert_eq!(
        DockerConfig::read(&config)
            .expect("read")
            .helper_for("127.0.0.1:5000")
            .as_deref(),
        Some("skifftest"),
        "the config is left alone"
    );
    assert_eq!(
        reg.credentials_for("127.0.0.1:5000/app")
            .map(|c| c.username),
        Some("alice".to_string())
    );
    assert_eq!(reg.list().expect("list")[0].store, "helper skifftest");
    reg.sign_out("127.0.0.1:5000").expect("sign out");
    assert!(!store.exists());
}

#[test]
fn at_start_a_named_helpers_link_is_restored() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.json");
    let (reg, _chain) = registries(&config);
    let link = dir
        .path()
        .join("home/.local/bin")
        .join(cli_path::HELPER_PROGRAM);
    // Not named: nothing is linked.
    reg.check_cli_helper();
    assert!(std::fs::symlink_metadata(&link).is_err());
    reg.store(&creds("127.0.0.1:5000")).expect("store");
    std::fs::remove_file(&link).expect("the link goes");
    reg.check_cli_helper();
    assert!(link.exists(), "the link is back");
}
