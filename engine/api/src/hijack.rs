//! Hijacked connections: docker's attach and attached exec start answer
//! `101 Switching Protocols` with `Upgrade: tcp`, then carry the
//! container's stream ([`crate::stdcopy`]) both ways on the raw
//! connection, which hyper hands over once the 101 is sent.

use http::{HeaderValue, StatusCode, header};

use crate::response::{self, Response};
use crate::stdcopy;

/// The 101 answer to a hijack of a raw (TTY) or multiplexed stream.
pub fn switching_protocols(raw: bool) -> Response {
    switching_protocols_as(stdcopy::content_type(raw))
}

/// The 101 answer to a hijack, naming the stream `content_type`
/// ([`stdcopy::content_type_at`]).
pub fn switching_protocols_as(content_type: &'static str) -> Response {
    let mut resp = response::empty(StatusCode::SWITCHING_PROTOCOLS);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_101_upgrade_tcp() {
        let resp = switching_protocols(false);
        assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
        let h = resp.headers();
        assert_eq!(h[header::UPGRADE], "tcp");
        assert_eq!(h[header::CONNECTION], "Upgrade");
        assert_eq!(
            h[header::CONTENT_TYPE],
            "application/vnd.docker.multiplexed-stream"
        );
        assert_eq!(
            switching_protocols(true).headers()[header::CONTENT_TYPE],
            "application/vnd.docker.raw-stream"
        );
    }
}
