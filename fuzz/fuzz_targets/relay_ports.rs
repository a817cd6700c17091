//! The published-ports streams as the host reads them from a hostile guest
//! (`skiff_relay::ports`): the publication stream's lines
//! (`read_event_line` → `PortEvent::decode`) and a UDP flow's datagram
//! frames (`read_datagram`), in any chunking; and the forwarded
//! connection's request line (`PortRequest::decode`, what the guest reads).
//! Lines never exceed the limit, decoded events and requests encode back
//! to lines that decode to them, datagrams never exceed the frame limit;
//! no panic, no hang.
//!
//! Input: byte 0 picks the stream (0 publication lines, 1 datagrams,
//! 2 a request line), byte 1 the chunk size; the rest is the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skiff_relay::ports::{
    MAX_DATAGRAM, MAX_EVENT_LINE, PortEvent, PortRequest, read_datagram, read_event_line,
};
use tokio::io::{AsyncWriteExt, BufReader};

fuzz_target!(|data: &[u8]| {
    let [kind, chunk, stream @ ..] = data else {
        return;
    };
    let chunk = usize::from(*chunk).max(1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        // The guest's bytes arrive at most `chunk` at a time.
        let (mut w, r) = tokio::io::duplex(chunk);
        let bytes = stream.to_vec();
        let writer = tokio::spawn(async move {
            let _ = w.write_all(&bytes).await;
            let _ = w.shutdown().await;
        });
        match kind % 3 {
            0 => {
                let mut r = BufReader::new(r);
                while let Ok(Some(line)) = read_event_line(&mut r).await {
                    assert!(line.len() <= MAX_EVENT_LINE, "{}", line.len());
                    if let Some(event) = PortEvent::decode(&line) {
                        let encoded = event.encode();
                        let again = encoded.strip_suffix('\n').expect("a newline");
                        assert_eq!(PortEvent::decode(again), Some(event), "{encoded:?}");
                    }
                }
            }
            1 => {
                let mut r = r;
                let mut buf = vec![0u8; MAX_DATAGRAM];
                while let Ok(Some(n)) = read_datagram(&mut r, &mut buf).await {
                    assert!(n <= MAX_DATAGRAM);
                }
            }
            _ => {
                drop(r);
                if let Some(req) = PortRequest::decode(stream) {
                    let encoded = req.encode();
                    let again = PortRequest::decode(&encoded[..encoded.len() - 1]);
                    assert_eq!(again, Some(req));
                }
            }
        }
        let _ = writer.await;
    });
});
