//! Parsing of `WWW-Authenticate` challenges (RFC 7235):
//! `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push"`.
//! Several challenges may share one header value or come in several
//! headers; quoted values may contain commas and `\"` escapes.

use std::collections::HashMap;

use http::HeaderMap;
use http::header::WWW_AUTHENTICATE;

/// One authentication challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, lowercased (`bearer`, `basic`).
    pub scheme: String,
    /// Parameters, names lowercased.
    pub params: HashMap<String, String>,
}

impl Challenge {
    /// A parameter by (lowercase) name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// All challenges of all `WWW-Authenticate` headers.
pub fn parse_headers(headers: &HeaderMap) -> Vec<Challenge> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse)
        .collect()
}

/// All challenges in one header value. Malformed parts are skipped.
pub fn parse(value: &str) -> Vec<Challenge> {
    let mut p = Parser {
        s: value.as_bytes(),
        i: 0,
    };
    let mut out: Vec<Challenge> = Vec::new();
    loop {
        p.skip(|b| b == b' ' || b == b'\t' || b == b',');
        let token = p.token();
        if token.is_empty() {
            if p.at_end() {
                return out;
            }
            // Junk character: skip it and resynchronise.
            p.i += 1;
            continue;
        }
        p.skip(|b| b == b' ' || b == b'\t');
        if p.peek() == Some(b'=') {
            // `name=value` belongs to the current challenge.
            p.i += 1;
            p.skip(|b| b == b' ' || b == b'\t');
            let value = if p.peek() == Some(b'"') {
                p.quoted()
            } else {
                p.token_value()
            };
            if let Some(current) = out.last_mut() {
                current.params.insert(token.to_ascii_lowercase(), value);
            }
        } else {
            // A new scheme; a following token68 (`Basic abc==`) is ignored.
            out.push(Challenge {
                scheme: token.to_ascii_lowercase(),
                params: HashMap::new(),
            });
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip(&mut self, pred: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&pred) {
            self.i += 1;
        }
    }

    /// An RFC 7230 token.
    fn token(&mut self) -> String {
        let start = self.i;
        self.skip(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    /// An unquoted parameter value: everything up to a comma or whitespace.
    fn token_value(&mut self) -> String {
        let start = self.i;
        self.skip(|b| b != b',' && b != b' ' && b != b'\t');
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    /// A quoted string starting at `"`; tolerates a missing closing quote.
    fn quoted(&mut self) -> String {
        self.i += 1;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(escaped) = self.peek() {
                        out.push(escaped);
                        self.i += 1;
                    }
                }
                _ => out.push(b),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn one(value: &str) -> Challenge {
        let mut all = parse(value);
        assert_eq!(all.len(), 1, "{value}: {all:?}");
        all.remove(0)
    }

    #[test]
    fn parses_docker_hub_bearer() {
        let c = one(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        );
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c.param("service"), Some("registry.docker.io"));
        assert_eq!(
            c.param("scope"),
            Some("repository:library/busybox:pull,push")
        );
    }

    #[test]
    fn tolerates_spacing_case_escapes_and_unquoted_values() {
        let c = one(
            r#"  bEaReR   Realm = "http://127.0.0.1:1/token" , service=reg.example ,error="a \"quoted\", thing""#,
        );
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("http://127.0.0.1:1/token"));
        assert_eq!(c.param("service"), Some("reg.example"));
        assert_eq!(c.param("error"), Some(r#"a "quoted", thing"#));
        let c = one(r#"Bearer realm="unterminated"#);
        assert_eq!(c.param("realm"), Some("unterminated"));
    }

    #[test]
    fn parses_several_challenges() {
        let all = parse(
            r#"Basic realm="basic-realm", Bearer realm="https://a/token",service="s", Negotiate"#,
        );
        let schemes: Vec<&str> = all.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["basic", "bearer", "negotiate"]);
        assert_eq!(all[0].param("realm"), Some("basic-realm"));
        assert_eq!(all[1].param("service"), Some("s"));

        let mut headers = HeaderMap::new();
        headers.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="r""#),
        );
        headers.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer realm="t""#),
        );
        let all = parse_headers(&headers);
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].param("realm"), Some("t"));
    }

    #[test]
    fn survives_garbage() {
        assert!(parse("").is_empty());
        assert!(parse(" , ,").is_empty());
        assert!(parse("=\"x").iter().all(|c| c.param("realm").is_none()));
        let all = parse(r#"Basic dXNlcjpwYXNz==, Bearer realm="r" @@@ junk"#);
        assert_eq!(all[0].scheme, "basic");
        let bearer = all
            .iter()
            .find(|c| c.scheme == "bearer")
            .expect("bearer survives");
        assert_eq!(bearer.param("realm"), Some("r"));
    }
}
