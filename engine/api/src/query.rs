//! Query-string parsing with docker's conventions: booleans as moby's
//! `BoolValue`, and the `filters` JSON parameter in both its forms.

use std::collections::BTreeMap;

use crate::error::ApiError;

/// A parsed query string (last value wins for repeated keys, except [`Query::all`]).
#[derive(Debug, Default, Clone)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parse a raw query string.
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw.map(form_pairs).unwrap_or_default();
        Self { pairs }
    }

    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The last value of `key`, if present and not empty.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Every non-empty value of `key`, in order, owned (`t=`, `changes=`).
    pub fn all_non_empty(&self, key: &str) -> Vec<String> {
        self.all(key)
            .into_iter()
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// moby's `BoolValue`: false for absent, "", "0", "no", "false", "none".
    pub fn bool(&self, key: &str) -> bool {
        match self.get(key) {
            None => false,
            Some(v) => !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "" | "0" | "no" | "false" | "none"
            ),
        }
    }

    /// An integer parameter.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.non_empty(key) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v:?}"))),
        }
    }

    /// The `filters` parameter: `{"key":{"value":true}}` or `{"key":["value"]}`.
    pub fn filters(&self) -> Result<Filters, ApiError> {
        match self.non_empty("filters") {
            None => Ok(Filters::default()),
            Some(raw) => Filters::parse(raw),
        }
    }
}

fn form_pairs(q: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default()
}

/// Docker's filter arguments: key → accepted values.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Filters(pub BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parse the JSON of a `filters` parameter.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let value: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| ApiError::bad_request("invalid filter: expected a JSON object"))?;
        let mut out = BTreeMap::new();
        for (k, v) in obj {
            let values: Vec<String> = match v {
                serde_json::Value::Object(m) => m
                    .iter()
                    .filter(|(_, on)| on.as_bool().unwrap_or(false))
                    .map(|(s, _)| s.clone())
                    .collect(),
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect(),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid filter: {k:?} must map to an object or a list"
                    )));
                }
            };
            out.insert(k.clone(), values);
        }
        Ok(Self(out))
    }

    /// Values given for `key`.
    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The `label` and `label!` filters (`key` or `key=value`; `label!`
    /// matches what lacks them), as the services take them.
    pub fn labels(&self) -> Vec<skiff_engine::volumes::LabelFilter> {
        use skiff_engine::volumes::LabelFilter;
        let with = self
            .get("label")
            .iter()
            .map(|l| LabelFilter::parse(l, false));
        let without = self
            .get("label!")
            .iter()
            .map(|l| LabelFilter::parse(l, true));
        with.chain(without).collect()
    }

    /// Reject keys outside `allowed`, with docker's message.
    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(ApiError::bad_request(format!("Invalid filter '{k}'"))),
            None => Ok(()),
        }
    }
}

/// Percent-decode a URL path segment (a `%` not followed by two hex digits
/// stays as it is).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |i: usize| bytes.get(i).and_then(|b| (*b as char).to_digit(16));
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bools_follow_moby() {
        let q = Query::parse(Some("a=1&b=true&c=0&d=no&e=&f=False&g=yes"));
        assert!(q.bool("a") && q.bool("b") && q.bool("g"));
        assert!(!q.bool("c") && !q.bool("d") && !q.bool("e") && !q.bool("f") && !q.bool("zz"));
    }

    #[test]
    fn filters_in_both_forms() {
        let f = Filters::parse(r#"{"reference":{"busybox":true,"x":false},"dangling":["true"]}"#)
            .expect("parse");
        assert_eq!(f.get("reference"), ["busybox".to_owned()]);
        assert_eq!(f.get("dangling"), ["true".to_owned()]);
        assert!(f.only(&["reference", "dangling"]).is_ok());
        assert_eq!(
            f.only(&["reference"]).expect_err("bad key").message,
            "Invalid filter 'dangling'"
        );
        assert!(Filters::parse("[1]").is_err());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%3Ac"), "a/b:c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("a%2F"), "a/");
        // A `%` before a multi-byte character sliced it in two (a panic),
        // and `%+f` decoded as 0x0f.
        assert_eq!(percent_decode("%aé"), "%aé");
        assert_eq!(percent_decode("%+f"), "%+f");
    }
}
