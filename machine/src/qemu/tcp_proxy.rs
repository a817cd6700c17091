//! `skiff machine connect-tcp HOST:PORT`: QEMU's guestfwd runs it for each
//! guest connection to the registry mirror address, with the connection on
//! stdin/stdout; it pipes both ways to the host's TCP address.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

use crate::error::{IoContext, Result};

/// Connects to `addr` and relays `input` → socket and socket → `output`
/// until the socket reaches EOF. Returns the bytes received.
pub fn relay(
    addr: &str,
    mut input: impl Read + Send + 'static,
    mut output: impl Write,
) -> Result<u64> {
    let stream = TcpStream::connect(addr).ctx(|| format!("connecting to {addr}"))?;
    let _ = stream.set_nodelay(true);
    let mut upstream = stream
        .try_clone()
        .ctx(|| format!("duplicating the socket to {addr}"))?;
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut input, &mut upstream);
        let _ = upstream.shutdown(Shutdown::Write);
    });
    let mut downstream = stream;
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match downstream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => {
                return Err(crate::error::MachineError::io(
                    format!("reading from {addr}"),
                    err,
                ));
            }
        };
        output
            .write_all(&buf[..n])
            .ctx(|| "writing to the guest".to_string())?;
        output.flush().ctx(|| "writing to the guest".to_string())?;
        total += n as u64;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_both_ways() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut got = Vec::new();
            s.read_to_end(&mut got).expect("read");
            s.write_all(&got.repeat(2)).expect("write");
        });
        let mut out = Vec::new();
        let n = relay(&addr, std::io::Cursor::new(b"abc".to_vec()), &mut out).expect("relay");
        server.join().expect("server");
        assert_eq!(out, b"abcabc");
        assert_eq!(n, 6);
        assert!(relay("127.0.0.1:1", std::io::empty(), Vec::new()).is_err());
    }
}
