//! Which URLs to talk to for a reference or a login, and how.
//!
//! * `docker.io` references: every configured mirror in order, then
//!   `https://registry-1.docker.io`.
//! * Other registries: `https://<domain>`; for insecure registries
//!   (loopback always, plus the configured `insecure` list) first
//!   `https://<domain>` without certificate verification, then
//!   `http://<domain>`, as docker does.

use reqwest::Url;
use skiff_oci::Reference;
use skiff_oci::reference::{DEFAULT_DOMAIN, DOCKER_HUB_API_HOST, LEGACY_DEFAULT_DOMAIN};

use crate::config::{InsecureList, is_loopback, strip_scheme};
use crate::error::RegistryError;

/// One base URL a registry API can be reached at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    base: String,
    host: String,
    tls_verify: bool,
    mirror: bool,
}

impl Endpoint {
    /// The base URL without trailing slash (`https://registry-1.docker.io`,
    /// `http://127.0.0.1:5000`); API paths are `<url>/v2/…`.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// `host[:port]` of the endpoint.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// True for a configured Docker Hub mirror.
    pub fn is_mirror(&self) -> bool {
        self.mirror
    }

    /// False when TLS certificates are not verified (insecure registries).
    pub fn tls_verify(&self) -> bool {
        self.tls_verify
    }

    /// True for plain-HTTP endpoints.
    pub fn is_plain_http(&self) -> bool {
        self.base.starts_with("http://")
    }

    /// True when the host is loopback (requests bypass proxies).
    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.host)
    }

    /// `<url>/v2/<path>`.
    pub(crate) fn v2(&self, path: &str) -> String {
        format!("{}/v2/{}", self.base, path)
    }

    fn new(scheme: &str, host: &str, tls_verify: bool) -> Self {
        Self {
            base: format!("{scheme}://{host}"),
            host: host.to_owned(),
            tls_verify,
            mirror: false,
        }
    }

    /// Docker Hub itself.
    pub(crate) fn docker_hub() -> Self {
        Self::new("https", DOCKER_HUB_API_HOST, true)
    }

    /// A configured mirror URL.
    pub(crate) fn mirror(url: &str, insecure: &InsecureList) -> Result<Self, RegistryError> {
        let invalid = |reason: &str| RegistryError::InvalidAddress {
            address: url.to_owned(),
            reason: reason.to_owned(),
        };
        let parsed =
            Url::parse(url.trim()).map_err(|e| invalid(&format!("invalid mirror url: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid("mirror url must use http or https"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty()
        {
            return Err(invalid(
                "mirror url must not have credentials, a query or a fragment",
            ));
        }
        let name = parsed
            .host_str()
            .ok_or_else(|| invalid("mirror url has no host"))?;
        let host = match parsed.port() {
            Some(port) => format!("{name}:{port}"),
            None => name.to_owned(),
        };
        let path = parsed.path().trim_end_matches('/');
        Ok(Self {
            base: format!("{}://{host}{path}", parsed.scheme()),
            tls_verify: !insecure.contains(&host),
            host,
            mirror: true,
        })
    }

    /// The endpoints of a non-Docker-Hub registry host.
    pub(crate) fn for_host(host: &str, insecure: &InsecureList) -> Vec<Self> {
        if insecure.contains(host) {
            vec![
                Self::new("https", host, false),
                Self::new("http", host, false),
            ]
        } else {
            vec![Self::new("https", host, true)]
        }
    }

    /// The endpoints to try, in order, for `reference`.
    pub(crate) fn for_reference(
        reference: &Reference,
        mirrors: &[Self],
        insecure: &InsecureList,
    ) -> Vec<Self> {
        if reference.is_docker_hub() {
            mirrors
                .iter()
                .cloned()
                .chain([Self::docker_hub()])
                .collect()
        } else {
            Self::for_host(reference.domain(), insecure)
        }
    }

    /// The endpoints for `docker login <server>`: the scheme and any path
    /// of `server` are ignored (docker's `ConvertToHostname`); an empty
    /// server or a Docker Hub name means Docker Hub (mirrors are not used).
    pub(crate) fn for_login(
        server: &str,
        insecure: &InsecureList,
    ) -> Result<Vec<Self>, RegistryError> {
        let trimmed = server.trim();
        let host = strip_scheme(trimmed)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if host.is_empty()
            || [DEFAULT_DOMAIN, LEGACY_DEFAULT_DOMAIN, DOCKER_HUB_API_HOST].contains(&host.as_str())
        {
            return Ok(vec![Self::docker_hub()]);
        }
        if host.contains(|c: char| c.is_whitespace() || "@?#".contains(c)) {
            return Err(RegistryError::InvalidAddress {
                address: server.to_owned(),
                reason: "not a registry host".to_owned(),
            });
        }
        Ok(Self::for_host(&host, insecure))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insecure(entries: &[&str]) -> InsecureList {
        InsecureList::parse(&entries.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
            .expect("list")
    }

    fn urls(endpoints: &[Endpoint]) -> Vec<&str> {
        endpoints.iter().map(Endpoint::url).collect()
    }

    fn reference(s: &str) -> Reference {
        Reference::parse(s).expect("reference")
    }

    #[test]
    fn docker_hub_goes_through_mirrors_first() {
        let none = insecure(&[]);
        let mirrors = vec![
            Endpoint::mirror("http://127.0.0.1:5000/", &none).expect("mirror"),
            Endpoint::mirror("https://mirror.example.com/prefix/", &none).expect("mirror"),
        ];
        let eps = Endpoint::for_reference(&reference("busybox"), &mirrors, &none);
        assert_eq!(
            urls(&eps),
            [
                "http://127.0.0.1:5000",
                "https://mirror.example.com/prefix",
                "https://registry-1.docker.io"
            ]
        );
        assert!(eps[0].is_mirror() && eps[1].is_mirror() && !eps[2].is_mirror());
        assert!(eps[0].is_plain_http() && eps[0].is_loopback() && !eps[0].tls_verify());
        assert!(eps[1].tls_verify() && eps[2].tls_verify());
        assert_eq!(
            eps[1].v2("library/busybox/manifests/latest"),
            "https://mirror.example.com/prefix/v2/library/busybox/manifests/latest"
        );

        // Mirrors are for Docker Hub only.
        let eps = Endpoint::for_reference(&reference("ghcr.io/a/b"), &mirrors, &none);
        assert_eq!(urls(&eps), ["https://ghcr.io"]);
    }

    #[test]
    fn insecure_and_loopback_registries_try_https_then_http() {
        let list = insecure(&["myreg:5000", "10.0.0.0/8"]);
        let cases: &[(&str, &[&str])] = &[
            (
                "127.0.0.1:5000/a",
                &["https://127.0.0.1:5000", "http://127.0.0.1:5000"],
            ),
            (
                "localhost:5000/a",
                &["https://localhost:5000", "http://localhost:5000"],
            ),
            ("[::1]:5000/a", &["https://[::1]:5000", "http://[::1]:5000"]),
            ("myreg:5000/a", &["https://myreg:5000", "http://myreg:5000"]),
            (
                "10.1.2.3:443/a",
                &["https://10.1.2.3:443", "http://10.1.2.3:443"],
            ),
            ("quay.io/a/b", &["https://quay.io"]),
            ("myreg.example:5000/a", &["https://myreg.example:5000"]),
        ];
        for (r, want) in cases {
            let eps = Endpoint::for_reference(&reference(r), &[], &list);
            assert_eq!(urls(&eps), *want, "{r}");
            assert_eq!(eps[0].tls_verify(), want.len() == 1, "{r}");
        }
    }

    #[test]
    fn insecure_mirror_skips_verification() {
        let list = insecure(&["mirror.internal:8443"]);
        let m = Endpoint::mirror("https://mirror.internal:8443", &list).expect("mirror");
        assert!(!m.tls_verify());
        assert_eq!(m.host(), "mirror.internal:8443");
        let m = Endpoint::mirror("https://[::1]:8443", &list).expect("mirror");
        assert_eq!(m.host(), "[::1]:8443");
        assert!(m.is_loopback());
    }

    #[test]
    fn rejects_bad_mirrors() {
        let none = insecure(&[]);
        for bad in [
            "127.0.0.1:5000",
            "ftp://x",
            "http://",
            "https://u:p@x",
            "https://x/?q=1",
            "not a url",
        ] {
            assert!(Endpoint::mirror(bad, &none).is_err(), "{bad}");
        }
    }

    #[test]
    fn login_servers() {
        let none = insecure(&[]);
        for hub in [
            "",
            "docker.io",
            "https://index.docker.io/v1/",
            "index.docker.io",
            "registry-1.docker.io",
            "HTTPS://Docker.IO/",
        ] {
            let eps = Endpoint::for_login(hub, &none).expect("hub");
            assert_eq!(urls(&eps), ["https://registry-1.docker.io"], "{hub:?}");
        }
        let eps = Endpoint::for_login("http://127.0.0.1:5000/v2/", &none).expect("local");
        assert_eq!(
            urls(&eps),
            ["https://127.0.0.1:5000", "http://127.0.0.1:5000"]
        );
        let eps = Endpoint::for_login("ghcr.io", &none).expect("ghcr");
        assert_eq!(urls(&eps), ["https://ghcr.io"]);
        assert!(Endpoint::for_login("bad host", &none).is_err());
    }
}
