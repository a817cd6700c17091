//! `docker push` and `docker login` against skiffd and real registries
//! (anonymous, htpasswd, token auth): progress as dockerd prints it, layers
//! that already exist or are mounted from another repository, the manifest
//! digest surviving push → rmi → pull, `--all-tags`, and refusals.

use skiff_e2e::{Registry, Skiffd, SkiffdOpts, seed};

/// skiffd with no mirror, talking to `registry` (loopback: insecure) and
/// to `others` (relayed into the daemon's network namespace, as its
/// registry and token server are).
fn against(registry: &Registry, others: &[&Registry]) -> Skiffd {
    let mut opts = SkiffdOpts::default()
        .no_mirror()
        .insecure_registry(registry.host());
    if let Some(tokens) = registry.token_server() {
        opts = opts.forward(tokens.addr().port());
    }
    for other in others {
        opts = opts.forward(other.port());
    }
    Skiffd::start(opts)
}

/// The digest `docker push` printed for `tag` (`<tag>: digest: <d> size: <n>`).
fn pushed_digest(out: &str, tag: &str) -> String {
    let prefix = format!("{tag}: digest: ");
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no digest line for {tag}:\n{out}"));
    line.split_whitespace().next().expect("digest").to_owned()
}

fn repo_digests(d: &Skiffd, name: &str) -> Vec<String> {
    let out = d.docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        name,
    ]);
    serde_json::from_str(out.trim()).expect("RepoDigests json")
}

/// The manifest digest the registry serves for `repo:tag`.
fn registry_digest(registry: &Registry, repo: &str, tag: &str) -> String {
    let resp = registry
        .get(
            &format!("/v2/{repo}/manifests/{tag}"),
            &[(
                "Accept",
                "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
            )],
        )
        .expect("manifest get");
    assert_eq!(resp.status, 200, "{repo}:{tag}");
    resp.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("docker-content-digest"))
        .map(|(_, v)| v.trim().to_owned())
        .expect("Docker-Content-Digest")
}

#[test]
fn push_to_an_anonymous_registry_mounts_reuses_and_round_trips() {
    let fx = seed();
    let source = Registry::start();
    let d = against(&source, &[]);
    let busybox = source.image("library/busybox:latest");
    d.docker_ok(&["pull", &busybox]);

    // Another repository of the same registry: the layer is mounted from
    // the repository the image was pulled from, and the manifest is the
    // one pulled, byte for byte.
    let target = source.image("push/busybox:v1");
    d.docker_ok(&["tag", &busybox, &target]);
    let out = d.docker_ok(&["push", &target]);
    assert!(
        out.contains(&format!(
            "The push refers to repository [{}]",
            source.image("push/busybox")
        )),
        "{out}"
    );
    assert!(out.contains(": Preparing"), "{out}");
    assert!(out.contains(": Mounted from library/busybox"), "{out}");
    let want = &fx.image("library/busybox:latest").digest;
    assert_eq!(&pushed_digest(&out, "v1"), want, "{out}");
    assert_eq!(&registry_digest(&source, "push/busybox", "v1"), want);

    // push, rmi, pull: the same digest.
    d.docker_ok(&["rmi", &target, &busybox]);
    let pulled = d.docker_ok(&["pull", &target]);
    assert!(pulled.contains(&format!("Digest: {want}")), "{pulled}");
    assert!(
        repo_digests(&d, &target).contains(&format!("{}@{want}", source.image("push/busybox"))),
        "{:?}",
        repo_digests(&d, &target)
    );

    // A three-layer image whose base layer the target repository has.
    let whiteout = source.image("library/whiteout:latest");
    d.docker_ok(&["pull", &whiteout]);
    let multi = source.image("push/busybox:whiteout");
    d.docker_ok(&["tag", &whiteout, &multi]);
    let out = d.docker_ok(&["push", &multi]);
    assert_eq!(out.matches("Layer already exists").count(), 1, "{out}");
    assert_eq!(
        out.matches("Mounted from library/whiteout").count(),
        2,
        "{out}"
    );
    let want = &fx.image("library/whiteout:latest").digest;
    assert_eq!(&pushed_digest(&out, "whiteout"), want, "{out}");

    // An OCI image goes up as OCI, byte for byte.
    let oci = source.image("library/oci:latest");
    d.docker_ok(&["pull", &oci]);
    let target = source.image("push/oci:1");
    d.docker_ok(&["tag", &oci, &target]);
    let out = d.docker_ok(&["push", &target]);
    let want = fx.image("library/oci:latest");
    assert_eq!(pushed_digest(&out, "1"), want.digest, "{out}");
    assert_eq!(
        want.media_type,
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(registry_digest(&source, "push/oci", "1"), want.digest);
}

#[test]
fn push_uploads_to_an_empty_registry_then_mounts_across_repositories() {
    let source = Registry::start();
    let empty = Registry::start_empty();
    let d = against(&source, &[&empty]);
    let whiteout = source.image("library/whiteout:latest");
    let busybox = source.image("library/busybox:latest");
    d.docker_ok(&["pull", &busybox]);
    d.docker_ok(&["pull", &whiteout]);

    // Nothing there: every layer is uploaded.
    let first = empty.image("a/whiteout:1");
    d.docker_ok(&["tag", &whiteout, &first]);
    let out = d.docker_ok(&["push", &first]);
    assert_eq!(out.matches(": Pushed").count(), 3, "{out}");
    let digest = pushed_digest(&out, "1");
    assert_eq!(registry_digest(&empty, "a/whiteout", "1"), digest);

    // Again: every layer exists.
    let out = d.docker_ok(&["push", &first]);
    assert_eq!(out.matches("Layer already exists").count(), 3, "{out}");
    assert_eq!(pushed_digest(&out, "1"), digest);

    // Another repository: busybox's layer is mounted from the one pushed.
    let second = empty.image("b/busybox:1");
    d.docker_ok(&["tag", &busybox, &second]);
    let out = d.docker_ok(&["push", &second]);
    assert!(out.contains(": Mounted from a/whiteout"), "{out}");

    // --all-tags pushes every tag of the repository.
    let repo = empty.image("c/multi");
    d.docker_ok(&["tag", &busybox, &format!("{repo}:one")]);
    d.docker_ok(&["tag", &whiteout, &format!("{repo}:two")]);
    let out = d.docker_ok(&["push", "--all-tags", &repo]);
    let one = pushed_digest(&out, "one");
    let two = pushed_digest(&out, "two");
    assert_ne!(one, two);
    assert_eq!(registry_digest(&empty, "c/multi", "one"), one);
    assert_eq!(registry_digest(&empty, "c/multi", "two"), two);

    // An image with no manifest of its own (docker import): its plain tar
    // layer is gzipped and a docker schema2 manifest made for it.
    let ctr = d.docker_ok(&["create", &busybox, "true"]);
    let tar = d.dir().join("export.tar");
    let tar = tar.to_str().expect("utf-8 path");
    d.docker_ok(&["export", "-o", tar, ctr.trim()]);
    let imported = empty.image("d/imported:1");
    d.docker_ok(&["import", tar, &imported]);
    let out = d.docker_ok(&["push", &imported]);
    assert_eq!(out.matches(": Pushed").count(), 1, "{out}");
    let made = pushed_digest(&out, "1");
    let manifest = empty
        .get(
            "/v2/d/imported/manifests/1",
            &[(
                "Accept",
                "application/vnd.docker.distribution.manifest.v2+json",
            )],
        )
        .expect("manifest");
    let text = String::from_utf8_lossy(&manifest.body);
    assert!(
        text.contains("application/vnd.docker.distribution.manifest.v2+json")
            && text.contains("application/vnd.docker.image.rootfs.diff.tar.gzip"),
        "{text}"
    );
    // Pushing again makes the same manifest.
    let again = d.docker_ok(&["push", &imported]);
    assert_eq!(pushed_digest(&again, "1"), made);

    // Pushed images come back with the same digests in a fresh engine.
    let fresh = against(&empty, &[]);
    let pulled = fresh.docker_ok(&["pull", &first]);
    assert!(pulled.contains(&format!("Digest: {digest}")), "{pulled}");
    fresh.docker_ok(&["run", "--rm", &first, "true"]);
    let pulled = fresh.docker_ok(&["pull", &imported]);
    assert!(pulled.contains(&format!("Digest: {made}")), "{pulled}");
    fresh.docker_ok(&["run", "--rm", &imported, "true"]);
}

#[test]
fn push_of_an_unknown_image_fails_as_docker() {
    let empty = Registry::start_empty();
    let source = Registry::start();
    let d = against(&empty, &[&source]);
    let name = empty.image("nope");
    let out = d.docker().run(&["push", &format!("{name}:1")]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stdout
            .contains(&format!("The push refers to repository [{name}]")),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains(&format!(
            "An image does not exist locally with the tag: {name}"
        )),
        "{}",
        out.stderr
    );

    // A repository with other tags only: dockerd's "tag does not exist".
    let busybox = source.image("library/busybox:latest");
    d.docker_ok(&["pull", &busybox]);
    d.docker_ok(&["tag", &busybox, &format!("{name}:1")]);
    let (code, err) = d.docker_fail(&["push", &format!("{name}:2")]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("tag does not exist: {name}:2")),
        "{err}"
    );
}

/// login, push (mounted from the seeded repository), rmi, pull back with the
/// same digest, logout, pull refused.
fn login_push_pull_logout(registry: &Registry) -> Skiffd {
    let d = against(registry, &[]);
    let (user, pass) = registry.credentials().expect("auth registry");
    let private = registry.image("private/busybox:latest");
    let mine = registry.image("mine/busybox:1");

    let (code, err) = d.docker_fail(&["login", &registry.host(), "-u", user, "-p", "wrong"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("Error response from daemon"), "{err}");

    let out = d.docker().run_with_stdin(
        &["login", &registry.host(), "-u", user, "--password-stdin"],
        pass.as_bytes(),
    );
    assert!(out.success(), "login: {}", out.stderr);
    assert!(out.stdout.contains("Login Succeeded"), "{}", out.stdout);

    d.docker_ok(&["pull", &private]);
    d.docker_ok(&["tag", &private, &mine]);
    let out = d.docker_ok(&["push", &mine]);
    assert!(out.contains(": Mounted from private/busybox"), "{out}");
    let digest = pushed_digest(&out, "1");
    assert_eq!(&digest, &seed().image("private/busybox:latest").digest);

    d.docker_ok(&["rmi", &mine, &private]);
    let pulled = d.docker_ok(&["pull", &mine]);
    assert!(pulled.contains(&format!("Digest: {digest}")), "{pulled}");

    d.docker_ok(&["logout", &registry.host()]);
    d.docker_ok(&["rmi", &mine]);
    let (code, err) = d.docker_fail(&["pull", &mine]);
    assert_eq!(code, 1);
    assert!(
        err.contains("pull access denied") || err.contains("unauthorized"),
        "{err}"
    );
    d.docker_ok(&["pull", &busybox_from(registry, &d)]);
    d
}

/// Log in again and pull the seeded image, so the caller can try a push
/// after logging out.
fn busybox_from(registry: &Registry, d: &Skiffd) -> String {
    let (user, pass) = registry.credentials().expect("auth registry");
    let out = d.docker().run_with_stdin(
        &["login", &registry.host(), "-u", user, "--password-stdin"],
        pass.as_bytes(),
    );
    assert!(out.success(), "login: {}", out.stderr);
    registry.image("private/busybox:latest")
}

/// After logout a push is refused with the registry's words.
fn push_refused_after_logout(registry: &Registry, d: &Skiffd) {
    d.docker_ok(&["logout", &registry.host()]);
    let name = registry.image("other/busybox:1");
    d.docker_ok(&["tag", &registry.image("private/busybox:latest"), &name]);
    let (code, err) = d.docker_fail(&["push", &name]);
    assert_eq!(code, 1);
    assert!(
        err.contains("unauthorized") || err.contains("denied"),
        "{err}"
    );
}

#[test]
fn htpasswd_registry_login_push_pull() {
    let registry = Registry::start_with_htpasswd("skiff", "s3cret");
    let d = login_push_pull_logout(&registry);
    push_refused_after_logout(&registry, &d);
    let (code, err) = d.docker_fail(&["login", &registry.host(), "-u", "skiff", "-p", "bad"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "login attempt to http://{}/v2/ failed with status: 401 Unauthorized",
            registry.host()
        )),
        "{err}"
    );
}

#[test]
fn token_registry_login_push_pull_with_identity_token() {
    let registry = Registry::start_with_token_auth("skiff", "t0ken");
    let d = login_push_pull_logout(&registry);
    // The token server issued a refresh token at login; the CLI stores it
    // as the identity token and later requests use it.
    let config = std::fs::read_to_string(d.docker().config_dir().join("config.json"))
        .expect("docker config");
    assert!(config.contains("identitytoken"), "{config}");
    push_refused_after_logout(&registry, &d);
}
