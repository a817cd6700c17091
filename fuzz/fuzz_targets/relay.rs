//! The relay from the host's side of a hostile guest (`skiff_relay`): the
//! session handshake and the `skiff machine shell` stream, fed whatever a
//! guest could write. The host's halves must end with a result or an error
//! (never a panic or a hang) and allocate only what the frame limit allows;
//! the guest's handshake half and the shell request line are fuzzed too.
#![no_main]

use std::io::Cursor;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use skiff_relay::{handshake, shell};

#[derive(Debug, Arbitrary)]
enum Input {
    /// What the guest sends while the host waits for its handshake answer.
    HostHandshake(Vec<u8>),
    /// What the host sends while the guest waits for HELLO / START.
    GuestHandshake(Vec<u8>),
    /// What the guest's shell stream sends back to `skiff machine shell`.
    ShellOutput(Vec<u8>),
    /// A shell request line as the guest parses it.
    ShellRequest(Vec<u8>),
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// A port that reads `bytes` then EOF, and swallows what is written.
fn port(bytes: Vec<u8>) -> impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {
    tokio::io::join(Cursor::new(bytes), tokio::io::sink())
}

fuzz_target!(|input: Input| {
    runtime().block_on(async move {
        match input {
            Input::HostHandshake(bytes) => {
                // The nonce is random: the guest cannot answer it, so the
                // port's EOF must end the handshake with an error.
                assert!(handshake::host(port(bytes)).await.is_err());
            }
            Input::GuestHandshake(bytes) => {
                let _ = handshake::guest(port(bytes)).await;
            }
            Input::ShellOutput(bytes) => {
                let request = shell::ShellRequest {
                    tty: false,
                    rows: 24,
                    cols: 80,
                    term: "xterm".into(),
                    args: Vec::new(),
                };
                let (_tx, resizes) = tokio::sync::mpsc::channel(1);
                let _ = shell::client(
                    port(bytes),
                    &request,
                    tokio::io::empty(),
                    tokio::io::sink(),
                    resizes,
                )
                .await;
            }
            Input::ShellRequest(line) => {
                if let Some(req) = shell::ShellRequest::decode(&line) {
                    let encoded = req.encode();
                    let again = shell::ShellRequest::decode(&encoded[..encoded.len() - 1]);
                    assert_eq!(again.as_ref(), Some(&req));
                }
            }
        }
    });
});
