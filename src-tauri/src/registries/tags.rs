//! The tag picker's data: the tags a registry lists for a repository
//! (`GET /v2/<name>/tags/list`), asked with the credentials signed in for
//! that registry, if any.

use skiff_oci::Reference;
use skiff_registry::{Credentials, RegistryClient, RegistryConfig, RegistryError};

use crate::error::{Error, Result};

/// Most tags returned (the newest-looking first is up to the UI).
pub const MAX_TAGS: usize = 5000;

/// The tags of `repository` (`alpine`, `127.0.0.1:5000/team/app`; a tag or
/// digest in it is ignored), sorted; endpoints tried as a pull tries them
/// (https, then http for loopback registries).
pub async fn list(repository: &str, creds: Option<Credentials>) -> Result<Vec<String>> {
    let reference = parse(repository)?;
    let client = RegistryClient::new(RegistryConfig::default())
        .map_err(|err| Error::Internal(format!("a registry client: {err}")))?;
    let mut last: Option<RegistryError> = None;
    for endpoint in client.endpoints(&reference) {
        let repo = client.repository(&endpoint, &reference, creds.clone());
        match repo.tags().await {
            Ok(mut tags) => {
                tags.sort_by_key(|t| std::cmp::Reverse(natural(t)));
                tags.truncate(MAX_TAGS);
                return Ok(tags);
            }
            Err(err) => {
                let transport = err.is_transport();
                last = Some(err);
                if !transport {
                    break;
                }
            }
        }
    }
    Err(match last {
        Some(err) if err.is_not_found() => Error::NotFound(format!(
            "{} lists no tags for {}: {err}",
            reference.index_name(),
            reference.familiar_name()
        )),
        Some(err) if err.is_unauthorized() => Error::InvalidRequest(format!(
            "{} wants you signed in to list the tags of {}: {err}",
            reference.index_name(),
            reference.familiar_name()
        )),
        Some(err) => Error::Engine {
            status: err.status().map_or(502, |s| s.as_u16()),
            message: format!("listing the tags of {}: {err}", reference.familiar_name()),
        },
        None => Error::Internal("no registry endpoint to ask".to_string()),
    })
}

/// `repository` as a reference without tag or digest.
pub fn parse(repository: &str) -> Result<Reference> {
    let text = repository.trim();
    Reference::parse(text)
        .map(|r| r.name_only())
        .map_err(|err| Error::InvalidRequest(format!("`{text}` is not an image name: {err}")))
}

/// A sort key that puts `3.10` after `3.9` (numbers compared as numbers).
fn natural(tag: &str) -> Vec<(u64, String)> {
    let mut key = Vec::new();
    let mut digits = String::new();
    let mut text = String::new();
    for c in tag.chars() {
        if c.is_ascii_digit() {
            if !text.is_empty() {
                key.push((0, std::mem::take(&mut text)));
            }
            digits.push(c);
        } else {
            if !digits.is_empty() {
                key.push((digits.parse().unwrap_or(u64::MAX), String::new()));
                digits.clear();
            }
            text.push(c);
        }
    }
    if !digits.is_empty() {
        key.push((digits.parse().unwrap_or(u64::MAX), String::new()));
    }
    if !text.is_empty() {
        key.push((0, text));
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_sort_newest_version_first() {
        let mut tags = ["3.9", "latest", "3.10", "3.10.1", "edge"];
        tags.sort_by_key(|t| std::cmp::Reverse(natural(t)));
        assert_eq!(tags[..3], ["3.10.1", "3.10", "3.9"]);
    }

    #[test]
    fn names_drop_their_tag() {
        let r = parse("127.0.0.1:5000/team/app:1").expect("valid");
        assert_eq!(r.familiar_name(), "127.0.0.1:5000/team/app");
        assert_eq!(r.tag(), None);
        assert_eq!(
            parse("Bad Name").expect_err("invalid").kind(),
            "invalid_request"
        );
    }
}
