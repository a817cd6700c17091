//! `GET /containers/{id}/changes` (`docker diff`): HTTP only; the walk is
//! the container service's (`containers::changes`). The answer is a JSON
//! array of `{"Path", "Kind"}` (0 modified, 1 added, 2 deleted), or `null`
//! when nothing changed, as dockerd answers.

use std::sync::Arc;

use http::StatusCode;
use skiff_engine::containers::changes::Change;
use skiff_engine::daemon::Daemon;

use crate::error::ApiError;
use crate::response::{self, Response};

/// One entry of the answer.
#[derive(serde::Serialize)]
struct Entry<'a> {
    #[serde(rename = "Path")]
    path: &'a str,
    #[serde(rename = "Kind")]
    kind: u8,
}

/// Answer `GET /containers/{id}/changes`.
pub async fn handle(daemon: &Arc<Daemon>, id: &str) -> Result<Response, ApiError> {
    let changes = daemon.containers.changes(id).await?;
    Ok(response::json(StatusCode::OK, &body(&changes)))
}

/// dockerd's body: `null` for no change.
fn body(changes: &[Change]) -> Option<Vec<Entry<'_>>> {
    (!changes.is_empty()).then(|| {
        changes
            .iter()
            .map(|c| Entry {
                path: &c.path,
                kind: c.kind as u8,
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_engine::containers::changes::ChangeKind;

    #[test]
    fn answers_null_or_dockers_entries() {
        assert_eq!(serde_json::to_string(&body(&[])).expect("json"), "null");
        let changes = [
            Change {
                path: "/etc".into(),
                kind: ChangeKind::Modified,
            },
            Change {
                path: "/etc/x".into(),
                kind: ChangeKind::Added,
            },
            Change {
                path: "/home".into(),
                kind: ChangeKind::Deleted,
            },
        ];
        assert_eq!(
            serde_json::to_string(&body(&changes)).expect("json"),
            r#"[{"Path":"/etc","Kind":0},{"Path":"/etc/x","Kind":1},{"Path":"/home","Kind":2}]"#
        );
    }
}
