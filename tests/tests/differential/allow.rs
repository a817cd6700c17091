//! The allow-list (`allow.toml`): differences from dockerd we keep, each
//! with its reason, and — in its own section — the open findings to fix in
//! skiffd.
//!
//! ```toml
//! [[keep]]                 # or [[swagger]], [[todo]]
//! case = "image-inspect@1.5*"   # glob over `name@version`
//! at = "body.VirtualSize"        # glob over the place
//! kind = "missing"               # optional: status, missing, type, …
//! skiffd = "400"                 # optional glob over skiffd's side
//! reason = "why"
//! ```
//!
//! `*` matches any run of characters (dots and brackets included), `|`
//! separates alternatives (`case = "inspect@*|inspect-size@*"`); nothing
//! else is special. A difference is allowed when any entry matches it.
//! `[[swagger]]` entries are where dockerd 20.10 is behind the API 1.50
//! swagger: they name skiffd's expected side, so skiffd must answer what the
//! swagger says. `[[todo]]` entries are open findings (issue 11).

use std::path::Path;

use serde::Deserialize;

use super::compare::Difference;

/// One entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Glob over `name@version`.
    pub case: String,
    /// Glob over the place of the difference.
    #[serde(default = "any")]
    pub at: String,
    /// The kind's name, when given.
    pub kind: Option<String>,
    /// Glob over skiffd's side, when given.
    pub skiffd: Option<String>,
    /// Why this difference stays (or, for `todo`, what is wrong).
    pub reason: String,
}

fn any() -> String {
    "*".to_string()
}

/// Which section an entry is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Kept on purpose.
    Keep,
    /// dockerd 20.10 behind the swagger; skiffd answers the swagger.
    Swagger,
    /// Open finding, to be fixed in skiffd.
    Todo,
}

/// The parsed file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowList {
    #[serde(default)]
    keep: Vec<Entry>,
    #[serde(default)]
    swagger: Vec<Entry>,
    #[serde(default)]
    todo: Vec<Entry>,
}

impl AllowList {
    /// Reads and parses `path`; panics with the parse error.
    pub fn load(path: &Path) -> AllowList {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) => panic!("reading {}: {err}", path.display()),
        };
        match toml::from_str(&text) {
            Ok(list) => list,
            Err(err) => panic!("parsing {}: {err}", path.display()),
        }
    }

    fn sections(&self) -> impl Iterator<Item = (Section, usize, &Entry)> {
        fn tag(s: Section, v: &[Entry]) -> impl Iterator<Item = (Section, usize, &Entry)> {
            v.iter().enumerate().map(move |(i, e)| (s, i, e))
        }
        tag(Section::Swagger, &self.swagger)
            .chain(tag(Section::Keep, &self.keep))
            .chain(tag(Section::Todo, &self.todo))
    }

    /// The first entry allowing `diff`: its section and index there.
    pub fn allows(&self, diff: &Difference) -> Option<(Section, usize)> {
        self.sections()
            .find(|(_, _, e)| e.matches(diff))
            .map(|(s, i, _)| (s, i))
    }

    /// Entries that matched none of `diffs` (stale: the difference is gone).
    pub fn unused(&self, diffs: &[Difference]) -> Vec<(Section, &Entry)> {
        self.sections()
            .filter(|(_, _, e)| !diffs.iter().any(|d| e.matches(d)))
            .map(|(s, _, e)| (s, e))
            .collect()
    }
}

impl Entry {
    fn matches(&self, d: &Difference) -> bool {
        any_glob(&self.case, &d.case)
            && any_glob(&self.at, &d.at)
            && self.kind.as_deref().is_none_or(|k| k == d.kind.name())
            && self.skiffd.as_deref().is_none_or(|s| glob(s, &d.skiffd))
    }
}

/// Any of the `|`-separated globs of `patterns` matches `text`.
fn any_glob(patterns: &str, text: &str) -> bool {
    patterns.split('|').any(|p| glob(p, text))
}

/// `*` matches any run of characters; everything else literally.
pub fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_dots_and_brackets_literally() {
        assert!(glob("body[0].Id", "body[0].Id"));
        assert!(!glob("body[0].Id", "body[1].Id"));
        assert!(glob("body*.Id", "body[3].Id"));
        assert!(glob("image-*@1.5*", "image-inspect@1.50"));
        assert!(!glob("image-*@1.5*", "image-inspect@1.41"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "abc"));
        assert!(!glob("a*bc", "abc-"));
        assert!(!glob("ab*ba", "aba"));
        assert!(any_glob("a@*|b@1.41", "b@1.41"));
        assert!(!any_glob("a@*|b@1.41", "b@1.50"));
    }
}
