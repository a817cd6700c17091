//! `GET /containers/{id}/attach/ws` through bollard's websocket client:
//! stdin in, raw output out, the websocket closed by skiffd when the
//! container exits; `logs=1` replay; an attach made before the start sees
//! all the output; a request that is not a websocket handshake is refused.

use std::time::Duration;

use bollard::container::AttachContainerResults;
use bollard::query_parameters::AttachContainerOptionsBuilder;
use futures_util::TryStreamExt;
use skiff_e2e::util::unix_http;
use skiff_e2e::{Skiffd, SkiffdOpts};
use tokio::io::AsyncWriteExt;

fn with_busybox() -> Skiffd {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    d
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Everything the websocket carries until skiffd closes it (at most 20 s).
async fn collect(results: AttachContainerResults) -> String {
    let chunks = tokio::time::timeout(
        Duration::from_secs(20),
        results.output.try_collect::<Vec<_>>(),
    )
    .await
    .expect("the websocket was not closed at the container's exit")
    .expect("websocket output");
    chunks.iter().map(ToString::to_string).collect()
}

#[test]
fn stdin_in_output_out_and_closed_at_exit() {
    let d = with_busybox();
    d.docker_ok(&["create", "-i", "--name", "ws1", "busybox", "sh"]);
    d.docker_ok(&["start", "ws1"]);
    let out = runtime().block_on(async {
        let docker = d.bollard();
        let opts = AttachContainerOptionsBuilder::default()
            .stream(true)
            .stdin(true)
            .stdout(true)
            .stderr(true)
            .build();
        let mut results = docker
            .attach_container_websocket("ws1", Some(opts))
            .await
            .expect("websocket attach");
        results
            .input
            .write_all(b"echo test; echo err >&2\n")
            .await
            .expect("stdin");
        results.input.write_all(b"exit 4\n").await.expect("stdin");
        results.input.flush().await.expect("flush");
        collect(results).await
    });
    // Not multiplexed: the raw bytes of both streams.
    assert!(out.contains("test\n") && out.contains("err\n"), "{out:?}");
    assert!(!out.contains('\u{1}'), "no stream headers: {out:?}");
    // The exit reaches the record just after the stream ends.
    assert_eq!(d.docker_ok(&["wait", "ws1"]).trim(), "4");
    assert_eq!(
        d.docker_ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "ws1"
        ])
        .trim(),
        "exited 4"
    );
}

#[test]
fn logs_replay_and_attach_before_start() {
    let d = with_busybox();
    d.docker_ok(&[
        "run",
        "--name",
        "done",
        "busybox",
        "sh",
        "-c",
        "echo one; echo two >&2",
    ]);
    d.docker_ok(&["create", "--name", "later", "busybox", "echo", "hi"]);
    let rt = runtime();
    let (replay, stdout_only, later) = rt.block_on(async {
        let docker = d.bollard();
        let logs = |stderr: bool| {
            AttachContainerOptionsBuilder::default()
                .logs(true)
                .stdout(true)
                .stderr(stderr)
                .build()
        };
        let replay = collect(
            docker
                .attach_container_websocket("done", Some(logs(true)))
                .await
                .expect("attach"),
        )
        .await;
        let stdout_only = collect(
            docker
                .attach_container_websocket("done", Some(logs(false)))
                .await
                .expect("attach"),
        )
        .await;
        let opts = AttachContainerOptionsBuilder::default()
            .stream(true)
            .stdout(true)
            .build();
        let attached = docker
            .attach_container_websocket("later", Some(opts))
            .await
            .expect("attach");
        docker.start_container("later", None).await.expect("start");
        (replay, stdout_only, collect(attached).await)
    });
    assert_eq!(replay, "one\ntwo\n");
    assert_eq!(stdout_only, "one\n");
    assert_eq!(later, "hi\n");
}

#[test]
fn plain_requests_are_refused() {
    let d = with_busybox();
    d.docker_ok(&["create", "--name", "c2", "busybox", "true"]);
    let r = unix_http(d.socket(), "GET", "/containers/c2/attach/ws?stream=1", b"").expect("get");
    assert_eq!(r.status, 400, "{}", r.text());
    let r = unix_http(d.socket(), "GET", "/containers/nope/attach/ws", b"").expect("get");
    assert_eq!(
        r.status,
        400,
        "the handshake is checked first: {}",
        r.text()
    );
}
