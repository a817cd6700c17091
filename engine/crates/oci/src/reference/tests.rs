//! Tests of reference parsing and normalisation against docker's rules.

use super::*;

const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// (input, domain, path, tag, has a digest, familiar form)
type Case<'a> = (String, &'a str, &'a str, Option<&'a str>, bool, String);

#[test]
fn normalises_like_docker() {
    let d = format!("sha256:{HEX}");
    let cases: Vec<Case> = vec![
        (
            "busybox".into(),
            "docker.io",
            "library/busybox",
            None,
            false,
            "busybox".into(),
        ),
        (
            "busybox:1.36".into(),
            "docker.io",
            "library/busybox",
            Some("1.36"),
            false,
            "busybox:1.36".into(),
        ),
        (
            "library/busybox".into(),
            "docker.io",
            "library/busybox",
            None,
            false,
            "busybox".into(),
        ),
        (
            "docker.io/busybox".into(),
            "docker.io",
            "library/busybox",
            None,
            false,
            "busybox".into(),
        ),
        (
            "docker.io/library/busybox:latest".into(),
            "docker.io",
            "library/busybox",
            Some("latest"),
            false,
            "busybox:latest".into(),
        ),
        (
            "index.docker.io/busybox".into(),
            "docker.io",
            "library/busybox",
            None,
            false,
            "busybox".into(),
        ),
        (
            "index.docker.io/foo/bar".into(),
            "docker.io",
            "foo/bar",
            None,
            false,
            "foo/bar".into(),
        ),
        (
            "foo/bar".into(),
            "docker.io",
            "foo/bar",
            None,
            false,
            "foo/bar".into(),
        ),
        (
            "foo/bar/baz:v1".into(),
            "docker.io",
            "foo/bar/baz",
            Some("v1"),
            false,
            "foo/bar/baz:v1".into(),
        ),
        (
            "library/foo/bar".into(),
            "docker.io",
            "library/foo/bar",
            None,
            false,
            "library/foo/bar".into(),
        ),
        (
            "localhost/foo".into(),
            "localhost",
            "foo",
            None,
            false,
            "localhost/foo".into(),
        ),
        (
            "localhost:5000/foo:t".into(),
            "localhost:5000",
            "foo",
            Some("t"),
            false,
            "localhost:5000/foo:t".into(),
        ),
        (
            "127.0.0.1:5000/a/b:tag".into(),
            "127.0.0.1:5000",
            "a/b",
            Some("tag"),
            false,
            "127.0.0.1:5000/a/b:tag".into(),
        ),
        (
            "[::1]:5000/a".into(),
            "[::1]:5000",
            "a",
            None,
            false,
            "[::1]:5000/a".into(),
        ),
        (
            "[fe80::1]/a".into(),
            "[fe80::1]",
            "a",
            None,
            false,
            "[fe80::1]/a".into(),
        ),
        (
            "ghcr.io/owner/img:v1.2-rc_3".into(),
            "ghcr.io",
            "owner/img",
            Some("v1.2-rc_3"),
            false,
            "ghcr.io/owner/img:v1.2-rc_3".into(),
        ),
        (
            "Registry.Example.com/x".into(),
            "Registry.Example.com",
            "x",
            None,
            false,
            "Registry.Example.com/x".into(),
        ),
        (
            "Foo/bar".into(),
            "Foo",
            "bar",
            None,
            false,
            "Foo/bar".into(),
        ),
        (
            "a.b/c__d/e-f/g---h.i_j".into(),
            "a.b",
            "c__d/e-f/g---h.i_j",
            None,
            false,
            "a.b/c__d/e-f/g---h.i_j".into(),
        ),
        (
            "localhost".into(),
            "docker.io",
            "library/localhost",
            None,
            false,
            "localhost".into(),
        ),
        (
            "localhost:5000".into(),
            "docker.io",
            "library/localhost",
            Some("5000"),
            false,
            "localhost:5000".into(),
        ),
        (
            format!("busybox@{d}"),
            "docker.io",
            "library/busybox",
            None,
            true,
            format!("busybox@{d}"),
        ),
        (
            format!("busybox:1@{d}"),
            "docker.io",
            "library/busybox",
            Some("1"),
            true,
            format!("busybox:1@{d}"),
        ),
        (
            format!("127.0.0.1:5000/x@{d}"),
            "127.0.0.1:5000",
            "x",
            None,
            true,
            format!("127.0.0.1:5000/x@{d}"),
        ),
        (
            "uppertag:Latest_Tag".into(),
            "docker.io",
            "library/uppertag",
            Some("Latest_Tag"),
            false,
            "uppertag:Latest_Tag".into(),
        ),
    ];
    for (input, domain, path, tag, has_digest, familiar) in cases {
        let r = Reference::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(r.domain(), domain, "{input}");
        assert_eq!(r.path(), path, "{input}");
        assert_eq!(r.repository(), path, "{input}");
        assert_eq!(r.tag(), tag, "{input}");
        assert_eq!(r.digest().is_some(), has_digest, "{input}");
        assert_eq!(r.familiar(), familiar, "{input}");
        // Round trip through the canonical form.
        let again = Reference::parse(&r.to_string()).expect("canonical form parses");
        assert_eq!(again, r, "{input}");
        let again = Reference::parse(&r.familiar()).expect("familiar form parses");
        assert_eq!(again, r, "{input}");
    }
}

#[test]
fn rejects_like_docker() {
    let long = format!("a/{}", "b".repeat(250));
    let cases: Vec<(String, ReferenceError)> = vec![
        ("".into(), ReferenceError::InvalidFormat),
        (
            "Busybox".into(),
            ReferenceError::Uppercase("library/Busybox".into()),
        ),
        (
            "foo/Bar:tag".into(),
            ReferenceError::Uppercase("foo/Bar".into()),
        ),
        (
            "ghcr.io/Owner/x".into(),
            ReferenceError::Uppercase("Owner/x".into()),
        ),
        (HEX.into(), ReferenceError::AmbiguousId(HEX.into())),
        ("busybox:".into(), ReferenceError::InvalidFormat),
        ("busybox:-tag".into(), ReferenceError::InvalidFormat),
        (
            format!("busybox:{}", "t".repeat(129)),
            ReferenceError::InvalidFormat,
        ),
        ("busybox@sha256:abc".into(), ReferenceError::InvalidFormat),
        ("busybox@".into(), ReferenceError::InvalidFormat),
        ("bus box".into(), ReferenceError::InvalidFormat),
        ("busybox/".into(), ReferenceError::InvalidFormat),
        ("/busybox".into(), ReferenceError::InvalidFormat),
        ("a//b".into(), ReferenceError::InvalidFormat),
        ("foo_/bar".into(), ReferenceError::InvalidFormat),
        ("foo/bar..baz".into(), ReferenceError::InvalidFormat),
        ("foo/bar._baz".into(), ReferenceError::InvalidFormat),
        ("foo/bar___baz".into(), ReferenceError::InvalidFormat),
        ("foo/-bar".into(), ReferenceError::InvalidFormat),
        ("-foo.com/bar".into(), ReferenceError::InvalidFormat),
        ("foo.com:port/bar".into(), ReferenceError::InvalidFormat),
        ("foo.com:/bar".into(), ReferenceError::InvalidFormat),
        ("[::1/bar".into(), ReferenceError::InvalidFormat),
        ("[::1]x/bar".into(), ReferenceError::InvalidFormat),
        ("a:b:c".into(), ReferenceError::InvalidFormat),
        ("a@b@c".into(), ReferenceError::InvalidFormat),
        (long.clone(), ReferenceError::NameTooLong),
    ];
    for (input, want) in cases {
        assert_eq!(Reference::parse(&input), Err(want), "{input:?}");
    }
    // A digest-shaped but unsupported digest surfaces the digest error.
    let sha512 = format!("busybox@sha512:{}", "a".repeat(128));
    assert!(matches!(
        Reference::parse(&sha512),
        Err(ReferenceError::Digest(_))
    ));
}

#[test]
fn error_messages_are_dockers() {
    let msg = |s: &str| Reference::parse(s).map(|_| ()).expect_err(s).to_string();
    assert_eq!(
        msg("Busybox"),
        "invalid reference format: repository name (library/Busybox) must be lowercase"
    );
    assert_eq!(msg("bus box"), "invalid reference format");
    assert_eq!(
        msg(HEX),
        format!("invalid repository name ({HEX}), cannot specify 64-byte hexadecimal strings")
    );
}

#[test]
fn default_tag_and_display() {
    let r = Reference::parse("busybox")
        .expect("parse")
        .with_default_tag();
    assert_eq!(r.tag(), Some("latest"));
    assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
    assert_eq!(r.familiar(), "busybox:latest");
    assert_eq!(r.name(), "docker.io/library/busybox");
    assert_eq!(r.familiar_name(), "busybox");

    let pinned = Reference::parse(&format!("busybox@sha256:{HEX}"))
        .expect("parse")
        .with_default_tag();
    assert_eq!(pinned.tag(), None, "a digest reference gets no default tag");
    assert_eq!(pinned.manifest_reference(), format!("sha256:{HEX}"));

    let both = Reference::parse(&format!("busybox:1@sha256:{HEX}")).expect("parse");
    assert_eq!(
        both.manifest_reference(),
        format!("sha256:{HEX}"),
        "digest wins over tag"
    );
    assert_eq!(
        Reference::parse("busybox")
            .expect("parse")
            .manifest_reference(),
        "latest"
    );

    let tagged = Reference::parse("busybox:1")
        .expect("parse")
        .with_default_tag();
    assert_eq!(tagged.tag(), Some("1"));
}

#[test]
fn registry_hosts_and_auth_keys() {
    let hub = Reference::parse("busybox").expect("parse");
    assert!(hub.is_docker_hub());
    assert_eq!(hub.index_name(), "docker.io");
    assert_eq!(hub.registry_host(), "registry-1.docker.io");
    assert_eq!(hub.auth_config_key(), "https://index.docker.io/v1/");

    let local = Reference::parse("127.0.0.1:5000/a/b").expect("parse");
    assert!(!local.is_docker_hub());
    assert_eq!(local.index_name(), "127.0.0.1:5000");
    assert_eq!(local.registry_host(), "127.0.0.1:5000");
    assert_eq!(local.auth_config_key(), "127.0.0.1:5000");
}

#[test]
fn with_tag_digest_and_name_only() {
    let d: Digest = format!("sha256:{HEX}").parse().expect("digest");
    let r = Reference::parse("foo/bar:1").expect("parse");
    let r2 = r.clone().with_tag("2").expect("valid tag");
    assert_eq!(r2.familiar(), "foo/bar:2");
    assert_eq!(
        r.clone().with_tag("bad tag"),
        Err(ReferenceError::InvalidTag)
    );
    let pinned = r.clone().with_digest(d.clone());
    assert_eq!(pinned.familiar(), format!("foo/bar:1@sha256:{HEX}"));
    assert_eq!(pinned.name_only().to_string(), "docker.io/foo/bar");
    assert!(pinned.name_only().is_name_only());
    assert_eq!("foo/bar:1".parse::<Reference>(), Ok(r));
}

#[test]
fn tag_validation() {
    for ok in [
        "latest",
        "1",
        "_x",
        "v1.2.3-rc.1",
        "A_B-c.d",
        &"x".repeat(128),
    ] {
        assert!(is_valid_tag(ok), "{ok}");
    }
    for bad in ["", ".x", "-x", "a/b", "a:b", "a@b", "ü", &"x".repeat(129)] {
        assert!(!is_valid_tag(bad), "{bad}");
    }
}
