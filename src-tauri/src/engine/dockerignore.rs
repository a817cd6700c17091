//! `.dockerignore` as the docker CLI reads it (moby's `patternmatcher`):
//! one pattern a line, `#` comments, a leading `!` re-includes, paths are
//! cleaned and relative to the context, `*` and `?` stop at `/`, `**`
//! crosses directories, and the last pattern that matches a path — or one
//! of its parent directories — decides.

use globset::{GlobBuilder, GlobMatcher};

use crate::error::{Error, Result};

/// One pattern line.
#[derive(Debug, Clone)]
struct Pattern {
    glob: GlobMatcher,
    /// `!pattern`: matches re-include.
    exclusion: bool,
}

/// The parsed `.dockerignore` of a build context.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

impl DockerIgnore {
    /// Parses the file's text; a pattern the CLI would refuse is an error
    /// naming it.
    pub fn parse(text: &str) -> Result<DockerIgnore> {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclusion, body) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let cleaned = clean(body);
            if cleaned.is_empty() {
                continue;
            }
            let glob = GlobBuilder::new(&cleaned)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|err| {
                    Error::InvalidRequest(format!(
                        "the .dockerignore pattern `{line}` is not valid: {err}"
                    ))
                })?
                .compile_matcher();
            patterns.push(Pattern { glob, exclusion });
        }
        Ok(DockerIgnore { patterns })
    }

    /// Whether `path` (relative to the context, `/`-separated) is left out
    /// of the context.
    pub fn excludes(&self, path: &str) -> bool {
        let path = clean(path);
        let mut excluded = false;
        for pattern in &self.patterns {
            if pattern.exclusion != excluded {
                // Only a pattern that could flip the answer is worth a look.
                continue;
            }
            if matches_or_parent(&pattern.glob, &path) {
                excluded = !pattern.exclusion;
            }
        }
        excluded
    }
}

/// `path` or one of its parent directories matches `glob`.
fn matches_or_parent(glob: &GlobMatcher, path: &str) -> bool {
    if glob.is_match(path) {
        return true;
    }
    let mut parent = path;
    while let Some(at) = parent.rfind('/') {
        parent = &parent[..at];
        if glob.is_match(parent) {
            return true;
        }
    }
    false
}

/// Go's `filepath.Clean` for relative patterns, without a leading `/`.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignore(text: &str) -> DockerIgnore {
        DockerIgnore::parse(text).expect("valid patterns")
    }

    #[test]
    fn patterns_match_like_the_docker_cli() {
        let rules = ignore("# comment\nnode_modules\n*.log\n!keep.log\n/target/**\ndocs/*/draft\n");
        assert!(rules.excludes("node_modules"));
        assert!(rules.excludes("node_modules/x/y.js"), "a parent matches");
        assert!(rules.excludes("build.log"));
        assert!(!rules.excludes("keep.log"), "re-included");
        assert!(!rules.excludes("sub/build.log"), "* does not cross /");
        assert!(rules.excludes("target/debug/app"));
        assert!(rules.excludes("docs/a/draft"));
        assert!(!rules.excludes("docs/a/b/draft"));
        assert!(!rules.excludes("src/main.rs"));
        assert!(!rules.excludes("./src/../Dockerfile"));
    }

    #[test]
    fn double_star_crosses_directories_and_last_match_wins() {
        let rules = ignore("**/*.tmp\n!important/**\nimportant/secret.tmp");
        assert!(rules.excludes("a/b/c.tmp"));
        assert!(rules.excludes("c.tmp"));
        assert!(!rules.excludes("important/x.tmp"));
        assert!(rules.excludes("important/secret.tmp"));
    }

    #[test]
    fn bad_patterns_are_named() {
        let err = DockerIgnore::parse("[z-a").expect_err("bad range");
        assert!(err.sentence().contains("`[z-a`"), "{err}");
    }
}
