//! skiffd's `daemon.json`: the keys it shares with dockerd take effect, and a
//! key given both as a flag and in the file is refused, as dockerd does.

use std::process::Command;

use skiff_e2e::skiffd::skiffd_bin;
use skiff_e2e::{Registry, Skiffd, SkiffdOpts};

#[test]
fn registry_mirrors_from_the_config_file_are_used() {
    let registry = Registry::start();
    let d = Skiffd::start(
        SkiffdOpts::default()
            .no_mirror()
            .config_json(format!(r#"{{"registry-mirrors": ["{}"]}}"#, registry.url())),
    );
    let out = d.docker_ok(&["pull", "hello-world"]);
    assert!(
        out.contains("Status: Downloaded newer image for hello-world:latest"),
        "{out}"
    );
    let info = d.docker_ok(&["info", "--format", "{{json .RegistryConfig.Mirrors}}"]);
    assert_eq!(info.trim(), format!(r#"["{}"]"#, registry.url()));
}

#[test]
fn conflicting_and_unknown_settings_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("daemon.json");
    std::fs::write(&cfg, r#"{"data-root": "/tmp/elsewhere"}"#).expect("write");
    let out = Command::new(skiffd_bin())
        .arg("--config-file")
        .arg(&cfg)
        .arg("--data-root")
        .arg(dir.path().join("data"))
        .arg("-H")
        .arg(format!("unix://{}", dir.path().join("s.sock").display()))
        .output()
        .expect("run skiffd");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the following directives are specified both as a flag and in the configuration file: data-root"), "{err}");

    std::fs::write(&cfg, r#"{"no-such-option": true}"#).expect("write");
    let out = Command::new(skiffd_bin())
        .arg("--config-file")
        .arg(&cfg)
        .output()
        .expect("run skiffd");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `no-such-option`"));
    assert!(
        !dir.path().join("s.sock").exists(),
        "a refused configuration starts nothing"
    );
}
