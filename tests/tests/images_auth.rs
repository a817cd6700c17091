//! Registries that want credentials: htpasswd (basic) and token (bearer)
//! auth, with `docker login` as the user does it.

use skiff_e2e::{Registry, Skiffd, SkiffdOpts};

fn against(registry: &Registry) -> Skiffd {
    let mut opts = SkiffdOpts::default()
        .no_mirror()
        .insecure_registry(registry.host());
    // The daemon runs in a network namespace of its own: the token server
    // (named only in the registry's answers) is relayed into it too.
    if let Some(tokens) = registry.token_server() {
        opts = opts.forward(tokens.addr().port());
    }
    Skiffd::start(opts)
}

fn login_then_pull(registry: &Registry) {
    let d = against(registry);
    let image = format!("{}/private/busybox:latest", registry.host());
    let (user, pass) = registry.credentials().expect("auth registry");

    let (code, err) = d.docker_fail(&["pull", &image]);
    assert_eq!(code, 1);
    assert!(
        err.contains("pull access denied for") || err.contains("unauthorized"),
        "{err}"
    );

    let (code, err) = d.docker_fail(&[
        "login",
        &registry.host(),
        "-u",
        user,
        "-p",
        "wrong-password",
    ]);
    assert_eq!(code, 1, "a wrong password must not log in");
    assert!(err.contains("unauthorized") || err.contains("401"), "{err}");

    let out = d.docker().run_with_stdin(
        &["login", &registry.host(), "-u", user, "--password-stdin"],
        pass.as_bytes(),
    );
    assert!(out.success(), "login: {}", out.stderr);
    assert!(out.stdout.contains("Login Succeeded"), "{}", out.stdout);

    let out = d.docker_ok(&["pull", &image]);
    assert!(out.contains("Pull complete"), "{out}");
    let listed = d.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(
        listed.trim(),
        format!("{}/private/busybox:latest", registry.host())
    );
}

#[test]
fn htpasswd_registry_with_docker_login() {
    login_then_pull(&Registry::start_with_htpasswd("skiff", "s3cret"));
}

#[test]
fn token_registry_with_docker_login() {
    let registry = Registry::start_with_token_auth("skiff", "t0ken");
    login_then_pull(&registry);
    assert!(
        registry
            .token_server()
            .expect("token server")
            .tokens_issued()
            >= 1,
        "skiffd must fetch bearer tokens"
    );
}
