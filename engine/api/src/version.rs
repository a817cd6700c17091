//! API version prefixes: every route is served bare and under `/v1.NN`, for
//! NN between [`MIN_API_VERSION`] and [`API_VERSION`].

use crate::error::ApiError;

/// The newest API version skiffd speaks.
pub const API_VERSION: &str = "1.50";
/// The oldest API version skiffd accepts.
pub const MIN_API_VERSION: &str = "1.24";

fn parse(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Split `/v1.41/images/json` into (`Some("1.41")`, `/images/json`), checking the range.
pub fn split(path: &str) -> Result<(Option<&str>, &str), ApiError> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok((None, path));
    };
    let (version, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let Some(v) = parse(version) else {
        return Ok((None, path));
    };
    let (min, max) = (
        parse(MIN_API_VERSION).unwrap_or((1, 24)),
        parse(API_VERSION).unwrap_or((1, 50)),
    );
    if v < min {
        return Err(ApiError::bad_request(format!(
            "client version {version} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    if v > max {
        return Err(ApiError::bad_request(format!(
            "client version {version} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    Ok((Some(version), tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_stripped_and_range_checked() {
        assert_eq!(
            split("/v1.41/images/json").expect("ok"),
            (Some("1.41"), "/images/json")
        );
        assert_eq!(split("/v1.24/_ping").expect("ok"), (Some("1.24"), "/_ping"));
        assert_eq!(split("/v1.50/info").expect("ok"), (Some("1.50"), "/info"));
        assert_eq!(split("/images/json").expect("ok"), (None, "/images/json"));
        assert!(
            split("/v1.12/info")
                .expect_err("old")
                .message
                .contains("too old")
        );
        assert!(
            split("/v1.51/info")
                .expect_err("new")
                .message
                .contains("too new")
        );
        assert_eq!(split("/volumes").expect("ok"), (None, "/volumes"));
    }
}
