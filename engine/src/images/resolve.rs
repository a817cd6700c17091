//! Finding an image by what a user typed: a name (`busybox`, `busybox:1`,
//! `busybox@sha256:…`), a full id (`sha256:…` or 64 hex), or an id prefix —
//! in docker's order: names first, then ids.

use skiff_oci::Digest;
use skiff_oci::reference::Reference;
use skiff_store::images::ImageIndex;

use super::error::ImageError;

/// Resolve `name` to an image id in `ix`.
pub fn resolve(ix: &ImageIndex, name: &str) -> Result<Digest, ImageError> {
    let not_found = || {
        let shown = Reference::parse(name)
            .map(|r| r.with_default_tag().familiar())
            .unwrap_or_else(|_| name.to_owned());
        ImageError::NotFound(shown)
    };
    if let Some(hex) = name.strip_prefix("sha256:") {
        return match_prefix(ix, hex).ok_or_else(|| ImageError::NotFound(name.to_owned()))?;
    }
    let parsed = Reference::parse(name);
    if let Ok(reference) = &parsed {
        let reference = reference.clone().with_default_tag();
        let key = reference.to_string();
        if let Some(id) = ix.tags.get(&key).or_else(|| ix.digests.get(&key)) {
            return Ok(id.clone());
        }
    }
    let hex = !name.is_empty() && name.bytes().all(|b| b.is_ascii_hexdigit());
    if hex {
        if let Some(found) = match_prefix(ix, &name.to_ascii_lowercase()) {
            return found;
        }
    }
    // A name that is neither a reference nor an id is the client's error
    // (400 "invalid reference format…", as dockerd), not a missing image.
    match parsed {
        Err(e) if !hex => Err(e.into()),
        _ => Err(not_found()),
    }
}

/// The unique image whose id starts with `hex`; `None` when nothing matches.
fn match_prefix(ix: &ImageIndex, hex: &str) -> Option<Result<Digest, ImageError>> {
    let mut hits = ix.images.keys().filter(|id| id.hex().starts_with(hex));
    let first = hits.next()?.clone();
    if hits.next().is_some() {
        return Some(Err(ImageError::InvalidArgument(format!(
            "ambiguous image id prefix {hex:?}: it matches more than one image"
        ))));
    }
    Some(Ok(first))
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_store::images::ImageRecord;

    fn index() -> (ImageIndex, Digest, Digest) {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let mut ix = ImageIndex::default();
        for id in [&a, &b] {
            ix.images
                .insert(id.clone(), ImageRecord::new(id.clone(), vec![], 0));
        }
        ix.tags
            .insert("docker.io/library/busybox:latest".into(), a.clone());
        ix.tags.insert("127.0.0.1:5000/x/y:1".into(), b.clone());
        ix.digests
            .insert(format!("docker.io/library/busybox@{}", b), b.clone());
        (ix, a, b)
    }

    #[test]
    fn names_then_ids() {
        let (ix, a, b) = index();
        assert_eq!(resolve(&ix, "busybox").expect("name"), a);
        assert_eq!(
            resolve(&ix, "docker.io/library/busybox:latest").expect("full"),
            a
        );
        assert_eq!(resolve(&ix, "127.0.0.1:5000/x/y:1").expect("host"), b);
        assert_eq!(resolve(&ix, &format!("busybox@{b}")).expect("digest"), b);
        assert_eq!(resolve(&ix, &a.to_string()).expect("full id"), a);
        assert_eq!(resolve(&ix, a.hex()).expect("hex id"), a);
        assert_eq!(resolve(&ix, &a.hex()[..12]).expect("short id"), a);
    }

    #[test]
    fn misses_use_dockers_words() {
        let (ix, _, _) = index();
        assert_eq!(
            resolve(&ix, "nope").expect_err("miss").to_string(),
            "No such image: nope:latest"
        );
        assert!(matches!(
            resolve(&ix, "sha256:ffff"),
            Err(ImageError::NotFound(_))
        ));
        // Not a reference: the client's error, in the reference's words.
        let bad = resolve(&ix, "UPPER").expect_err("bad reference");
        assert!(matches!(bad, ImageError::InvalidArgument(_)), "{bad:?}");
        assert!(
            bad.to_string().starts_with("invalid reference format"),
            "{bad}"
        );
        assert!(matches!(
            resolve(&ix, "ABCDEF"),
            Err(ImageError::NotFound(_))
        ));
    }
}
