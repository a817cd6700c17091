//! Request bodies for blocking consumers (tar readers in `spawn_blocking`).

use http_body_util::BodyExt;
use hyper::body::Incoming;

use skiff_engine::streams::ChannelReader;

/// A blocking reader over a request body, fed by a task that pulls frames.
pub fn reader(body: Incoming) -> ChannelReader {
    let (tx, reader) = ChannelReader::new();
    tokio::spawn(async move {
        let mut body = body;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        if tx.send(Ok(data)).await.is_err() {
                            break;
                        }
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e))).await;
                    break;
                }
            }
        }
    });
    reader
}
