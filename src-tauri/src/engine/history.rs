//! An image's layers as `docker history` shows them: newest first, each
//! with the instruction that made it and the bytes it added.

use serde::Serialize;

use super::Engine;
use super::containers::non_empty;
use crate::error::Result;

/// One step of an image's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Layer {
    /// The image the step made (`sha256:…`), or `<missing>` for steps
    /// whose image is not stored here (pulled images).
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    /// The instruction, as `docker history --no-trunc` prints it, with
    /// the shell prefix of `RUN` steps and the `#(nop)` marker of
    /// metadata steps removed.
    pub instruction: String,
    /// Bytes the step added (0: metadata only).
    pub size: i64,
    /// Tags of the step's image.
    pub tags: Vec<String>,
    /// The step's comment (`buildkit.dockerfile.v0`, an import's message).
    pub comment: String,
}

/// `created_by` as a reader wants it: `/bin/sh -c #(nop)  CMD ["sh"]` →
/// `CMD ["sh"]`, `/bin/sh -c apk add curl` → `RUN apk add curl`; other
/// texts (BuildKit's `RUN /bin/sh -c …`, imports) as they are.
pub fn instruction(created_by: &str) -> String {
    let text = created_by.trim();
    for shell in ["/bin/sh -c ", "cmd /S /C "] {
        if let Some(rest) = text.strip_prefix(shell) {
            let rest = rest.trim_start();
            return match rest.strip_prefix("#(nop)") {
                Some(meta) => meta.trim().to_string(),
                None => format!("RUN {rest}"),
            };
        }
    }
    text.to_string()
}

/// The history of image `reference`, newest step first.
pub async fn history(engine: &Engine, reference: &str) -> Result<Vec<Layer>> {
    let reference = non_empty(reference, "image")?.to_string();
    let items = engine
        .call(|d| async move { d.image_history(&reference).await })
        .await?;
    Ok(items
        .into_iter()
        .map(|item| Layer {
            id: item.id,
            created: item.created,
            instruction: instruction(&item.created_by),
            size: item.size,
            tags: item.tags,
            comment: item.comment,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_read_as_the_dockerfile_wrote_them() {
        assert_eq!(
            instruction(r#"/bin/sh -c #(nop)  CMD ["sh"]"#),
            r#"CMD ["sh"]"#
        );
        assert_eq!(
            instruction("/bin/sh -c apk add --no-cache curl"),
            "RUN apk add --no-cache curl"
        );
        assert_eq!(
            instruction("/bin/sh -c #(nop) ADD file:9a4f in / "),
            "ADD file:9a4f in /"
        );
        assert_eq!(
            instruction("RUN /bin/sh -c make # buildkit"),
            "RUN /bin/sh -c make # buildkit"
        );
        assert_eq!(instruction("Imported from -"), "Imported from -");
    }
}
