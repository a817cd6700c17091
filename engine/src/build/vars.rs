//! Variable substitution and word splitting as dockerd's shell lexer
//! (`moby/buildkit/frontend/dockerfile/shell`) does it for the
//! instructions that expand variables (`ADD COPY ENV EXPOSE FROM LABEL
//! STOPSIGNAL USER VOLUME WORKDIR ARG`):
//!
//! - `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//!   `${VAR:+alt}`, `${VAR+alt}`; an unset variable is empty;
//! - single quotes are literal, double quotes expand and are removed,
//!   the escape character (`\` by default) makes the next one literal.

use super::error::BuildError;

/// Look up a variable: `None` when unset.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn bad(word: &str, why: &str) -> BuildError {
    BuildError::InvalidArgument(format!("failed to process {word:?}: {why}"))
}

/// Expand and unquote one word.
pub fn process_word(word: &str, env: Lookup<'_>, escape: char) -> Result<String, BuildError> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == escape {
            if let Some(&n) = chars.get(i + 1) {
                out.push(n);
                i += 2;
            } else {
                out.push(c);
                i += 1;
            }
        } else if c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                out.push(chars[i]);
                i += 1;
            }
            if i >= chars.len() {
                return Err(bad(
                    word,
                    "unexpected end of statement while looking for matching single-quote",
                ));
            }
            i += 1;
        } else if c == '"' {
            i += 1;
            loop {
                let Some(&d) = chars.get(i) else {
                    return Err(bad(
                        word,
                        "unexpected end of statement while looking for matching double-quote",
                    ));
                };
                if d == '"' {
                    i += 1;
                    break;
                }
                if d == escape {
                    match chars.get(i + 1) {
                        Some(&n) if n == '"' || n == '$' || n == escape => {
                            out.push(n);
                            i += 2;
                        }
                        _ => {
                            out.push(d);
                            i += 1;
                        }
                    }
                } else if d == '$' {
                    i = dollar(&chars, i, env, escape, word, &mut out)?;
                } else {
                    out.push(d);
                    i += 1;
                }
            }
        } else if c == '$' {
            i = dollar(&chars, i, env, escape, word, &mut out)?;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Ok(out)
}

/// Expand the variables of a heredoc body (`COPY <<EOF` with an unquoted
/// delimiter) as BuildKit does (its lexer's raw-quotes and raw-escapes
/// mode): `$VAR` and `${…}` forms are expanded; quotes stay as written; a
/// `\` stays too and keeps the character after it from expanding.
pub fn process_heredoc(body: &str, env: Lookup<'_>) -> Result<String, BuildError> {
    let chars: Vec<char> = body.chars().collect();
    let mut out = String::with_capacity(body.len());
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                out.extend(chars.get(i..(i + 2).min(chars.len())).unwrap_or_default());
                i += 2;
            }
            '$' => i = dollar(&chars, i, env, '\\', body, &mut out)?,
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Expand the `$…` at `chars[i]`; returns the index after it.
fn dollar(
    chars: &[char],
    i: usize,
    env: Lookup<'_>,
    escape: char,
    word: &str,
    out: &mut String,
) -> Result<usize, BuildError> {
    let mut j = i + 1;
    match chars.get(j) {
        Some('{') => {
            j += 1;
            let start = j;
            while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            let name: String = chars[start..j].iter().collect();
            if name.is_empty() {
                return Err(bad(word, "missing variable name"));
            }
            match chars.get(j) {
                Some('}') => {
                    out.push_str(&env(&name).unwrap_or_default());
                    Ok(j + 1)
                }
                Some(&op) if op == ':' || op == '-' || op == '+' => {
                    let colon = op == ':';
                    if colon {
                        j += 1;
                    }
                    let Some(&kind) = chars.get(j) else {
                        return Err(bad(word, "missing '}'"));
                    };
                    if kind != '-' && kind != '+' {
                        return Err(bad(
                            word,
                            &format!("unsupported modifier ({kind}) in substitution"),
                        ));
                    }
                    j += 1;
                    // The word up to the matching '}'.
                    let wstart = j;
                    let mut depth = 0;
                    while j < chars.len() && !(chars[j] == '}' && depth == 0) {
                        if chars[j] == '{' {
                            depth += 1;
                        } else if chars[j] == '}' {
                            depth -= 1;
                        }
                        j += 1;
                    }
                    if j >= chars.len() {
                        return Err(bad(word, "missing '}'"));
                    }
                    let inner: String = chars[wstart..j].iter().collect();
                    let value = env(&name);
                    let set = match (&value, colon) {
                        (Some(v), true) => !v.is_empty(),
                        (Some(_), false) => true,
                        (None, _) => false,
                    };
                    let text = match kind {
                        '-' if set => value.unwrap_or_default(),
                        '-' => process_word(&inner, env, escape)?,
                        _ if set => process_word(&inner, env, escape)?,
                        _ => String::new(),
                    };
                    out.push_str(&text);
                    Ok(j + 1)
                }
                _ => Err(bad(word, "missing '}'")),
            }
        }
        Some(c) if c.is_alphanumeric() || *c == '_' => {
            let start = j;
            while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            let name: String = chars[start..j].iter().collect();
            out.push_str(&env(&name).unwrap_or_default());
            Ok(j)
        }
        _ => {
            out.push('$');
            Ok(j)
        }
    }
}

/// Split `raw` at whitespace outside quotes and escapes, keeping quotes
/// (docker's `parseWords` for `ENV`/`LABEL`/`ARG`).
pub fn split_words(raw: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == escape && q == '"' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            None => {
                cur.push(c);
                if c == escape {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == '"' || c == '\'' {
                    quote = Some(c);
                }
            }
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// `ENV`/`LABEL` arguments: `k=v k2="v 2"` or the legacy `k some value`;
/// values expanded and unquoted.
pub fn key_values(
    what: &str,
    raw: &str,
    env: Lookup<'_>,
    escape: char,
) -> Result<Vec<(String, String)>, BuildError> {
    let words = split_words(raw, escape);
    let Some(first) = words.first() else {
        return Err(BuildError::InvalidArgument(format!(
            "{what} requires at least one argument"
        )));
    };
    if !first.contains('=') {
        // Legacy form: the first word is the key, the rest the value.
        let rest = raw.trim_start()[first.len()..].trim();
        if rest.is_empty() {
            return Err(BuildError::InvalidArgument(format!(
                "{what} names can not be blank"
            )));
        }
        return Ok(vec![(
            process_word(first, env, escape)?,
            process_word(rest, env, escape)?,
        )]);
    }
    words
        .iter()
        .map(|w| {
            let (k, v) = w.split_once('=').ok_or_else(|| {
                BuildError::InvalidArgument(format!(
                    "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
                ))
            })?;
            if k.is_empty() {
                return Err(BuildError::InvalidArgument(format!(
                    "{what} names can not be blank"
                )));
            }
            Ok((process_word(k, env, escape)?, process_word(v, env, escape)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("a".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn w(s: &str) -> String {
        process_word(s, &env, '\\').expect("process")
    }

    #[test]
    fn substitutes_like_docker() {
        assert_eq!(w("$A/${A}x"), "a/ax");
        assert_eq!(w("${NOPE:-def}"), "def");
        assert_eq!(w("${EMPTY:-def}"), "def");
        assert_eq!(w("${EMPTY-def}"), "");
        assert_eq!(w("${A:+alt}"), "alt");
        assert_eq!(w("${NOPE:+alt}"), "");
        assert_eq!(w("'$A'"), "$A");
        assert_eq!(w("\"$A b\""), "a b");
        assert_eq!(w("\\$A"), "$A");
        assert_eq!(w("${NOPE:-${A}}"), "a");
        assert!(process_word("${A", &env, '\\').is_err());
    }

    #[test]
    fn env_and_label_forms() {
        assert_eq!(
            key_values("ENV", r#"X=1 Y="two words" Z=$A"#, &env, '\\').expect("kv"),
            vec![
                ("X".into(), "1".into()),
                ("Y".into(), "two words".into()),
                ("Z".into(), "a".into())
            ]
        );
        assert_eq!(
            key_values("ENV", "KEY some value", &env, '\\').expect("legacy"),
            vec![("KEY".into(), "some value".into())]
        );
        assert!(key_values("ENV", "", &env, '\\').is_err());
    }

    #[test]
    fn heredoc_bodies_expand_variables_only() {
        let env = |k: &str| (k == "A").then(|| "x".to_owned());
        let got = process_heredoc("'$A' \"${A}\" \\$A ${B:-d} $ end\n", &env).expect("expand");
        assert_eq!(got, "'x' \"x\" \\$A d $ end\n");
    }
}
