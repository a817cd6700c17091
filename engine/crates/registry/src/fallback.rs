//! Trying several endpoints in turn, and choosing which failure to report.
//!
//! Rules:
//! * after a failure on a **mirror**, the next endpoint is tried whatever
//!   the error;
//! * after a failure on any other endpoint, the next one (the plain-HTTP
//!   fallback of an insecure registry) is tried only for **transport**
//!   errors — a registry that answered is authoritative;
//! * when every endpoint failed, the reported error is the **last answer
//!   from a registry** (any HTTP-level or content error), and only if no
//!   registry answered at all, the last transport error. So a mirror's
//!   `MANIFEST_UNKNOWN` beats Docker Hub being unreachable, while Docker
//!   Hub's own answer beats a mirror's (as in docker's pull loop).

use crate::endpoint::Endpoint;
use crate::error::RegistryError;

/// Whether to try the next endpoint after `error` on `endpoint`.
pub(crate) fn should_try_next(endpoint: &Endpoint, error: &RegistryError) -> bool {
    endpoint.is_mirror() || error.is_transport()
}

/// The failures so far, keeping the one worth reporting.
#[derive(Default)]
pub(crate) struct Failures {
    best: Option<RegistryError>,
}

impl Failures {
    /// Record a failure.
    pub(crate) fn record(&mut self, error: RegistryError) {
        let keep_previous = self
            .best
            .as_ref()
            .is_some_and(|prev| prev.is_answer() && !error.is_answer());
        if !keep_previous {
            self.best = Some(error);
        }
    }

    /// The error to report; `None` when nothing failed.
    pub(crate) fn into_error(self) -> Option<RegistryError> {
        self.best
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, StatusCode};

    use super::*;
    use crate::config::InsecureList;

    fn manifest_unknown(url: &str) -> RegistryError {
        RegistryError::from_parts(
            url,
            StatusCode::NOT_FOUND,
            &HeaderMap::new(),
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
        )
    }

    /// A genuine transport error: connecting to a port nobody listens on.
    async fn refused() -> RegistryError {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let url = format!("http://127.0.0.1:{port}/v2/");
        let error = reqwest::Client::new()
            .get(&url)
            .send()
            .await
            .expect_err("nobody listens");
        RegistryError::transport("Get", &url, error)
    }

    #[tokio::test]
    async fn a_registry_answer_beats_later_transport_failures() {
        let transport = refused().await;
        assert!(transport.is_transport());
        assert!(
            transport.to_string().starts_with("Get \"http://127.0.0.1:"),
            "{transport}"
        );

        let mut f = Failures::default();
        f.record(refused().await);
        f.record(manifest_unknown("http://mirror/v2/"));
        f.record(refused().await);
        let e = f.into_error().expect("an error");
        assert_eq!(e.to_string(), "manifest unknown: manifest unknown");
        assert_eq!(e.url(), Some("http://mirror/v2/"));
    }

    #[tokio::test]
    async fn the_last_answer_wins_and_transport_only_when_nothing_answered() {
        let mut f = Failures::default();
        f.record(manifest_unknown("http://mirror/v2/"));
        f.record(RegistryError::from_parts(
            "https://hub/v2/",
            StatusCode::UNAUTHORIZED,
            &HeaderMap::new(),
            b"",
        ));
        assert_eq!(
            f.into_error()
                .and_then(|e| e.url().map(str::to_owned))
                .as_deref(),
            Some("https://hub/v2/")
        );

        let mut f = Failures::default();
        f.record(refused().await);
        f.record(refused().await);
        assert!(f.into_error().is_some_and(|e| e.is_transport()));
        assert!(Failures::default().into_error().is_none());
    }

    #[tokio::test]
    async fn mirrors_always_fall_back_others_only_on_transport() {
        let none = InsecureList::default();
        let mirror = Endpoint::mirror("http://127.0.0.1:5000", &none).expect("mirror");
        let https = Endpoint::for_host("127.0.0.1:5000", &none).remove(0);
        let answer = manifest_unknown("u");
        let transport = refused().await;
        assert!(should_try_next(&mirror, &answer));
        assert!(should_try_next(&mirror, &transport));
        assert!(!should_try_next(&https, &answer));
        assert!(should_try_next(&https, &transport));
    }
}
