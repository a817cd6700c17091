//! A shell inside the VM, over the engine relay (`skiff machine shell`).
//!
//! skiffd cannot run a process outside a container, and the VM has no other
//! way in, so the relay's guest half answers one more kind of stream: a
//! connection whose first line is
//!
//! ```text
//! SKIFF-SHELL/1 <pty|pipe> <rows> <cols> <hex TERM> [<hex arg>...]\n
//! ```
//!
//! runs `/bin/sh -l` (or the arguments, when given) as root in the guest
//! instead of being connected to the engine. Every other stream is relayed
//! to the engine untouched (the engine speaking first is relayed at once;
//! the first client bytes are checked against the magic, and only a full
//! match makes a shell). Anyone who can open `docker.sock` can already run
//! privileged containers, so this grants nothing new.
//!
//! After the line, both directions carry frames `[kind u8][len u32 BE][data]`:
//! host → guest [`STDIN`], [`STDIN_EOF`], [`RESIZE`] (rows, cols as u16 BE);
//! guest → host [`OUTPUT`], [`EXIT`] (i32 BE), [`ERROR`] (a message).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::RelayError;

/// The first bytes of a shell stream.
pub const MAGIC: &[u8] = b"SKIFF-SHELL/1 ";
/// Host → guest: bytes for the shell's stdin.
pub const STDIN: u8 = 0;
/// Host → guest: the host's stdin ended.
pub const STDIN_EOF: u8 = 1;
/// Host → guest: the terminal's new size.
pub const RESIZE: u8 = 2;
/// Guest → host: the shell's output (stdout and stderr).
pub const OUTPUT: u8 = 0;
/// Guest → host: the shell exited with this status.
pub const EXIT: u8 = 3;
/// Guest → host: the shell could not be started.
pub const ERROR: u8 = 4;
/// Largest frame accepted.
const MAX_FRAME: u32 = 1 << 20;

/// What the host asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellRequest {
    /// A pseudo-terminal (interactive) or plain pipes.
    pub tty: bool,
    /// Terminal rows.
    pub rows: u16,
    /// Terminal columns.
    pub cols: u16,
    /// `TERM` for the shell.
    pub term: String,
    /// A command to run instead of a login shell.
    pub args: Vec<String>,
}

impl ShellRequest {
    /// The request line, newline included.
    pub fn encode(&self) -> Vec<u8> {
        let mut line = String::from_utf8_lossy(MAGIC).into_owned();
        line.push_str(if self.tty { "pty" } else { "pipe" });
        line.push_str(&format!(
            " {} {} {}",
            self.rows,
            self.cols,
            hex(self.term.as_bytes())
        ));
        for arg in &self.args {
            line.push(' ');
            line.push_str(&hex(arg.as_bytes()));
        }
        line.push('\n');
        line.into_bytes()
    }

    /// Parses a request line (without its newline).
    pub fn decode(line: &[u8]) -> Option<ShellRequest> {
        let rest = line.strip_prefix(MAGIC)?;
        let text = std::str::from_utf8(rest).ok()?;
        let mut words = text.split(' ');
        let tty = match words.next()? {
            "pty" => true,
            "pipe" => false,
            _ => return None,
        };
        let rows = words.next()?.parse().ok()?;
        let cols = words.next()?.parse().ok()?;
        let term = String::from_utf8(unhex(words.next()?)?).ok()?;
        let args = words
            .filter(|w| !w.is_empty())
            .map(|w| unhex(w).and_then(|b| String::from_utf8(b).ok()))
            .collect::<Option<Vec<_>>>()?;
        Some(ShellRequest {
            tty,
            rows,
            cols,
            term,
            args,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".to_string();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text == "-" {
        return Some(Vec::new());
    }
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    kind: u8,
    data: &[u8],
) -> std::io::Result<()> {
    let mut head = [0u8; 5];
    head[0] = kind;
    head[1..].copy_from_slice(&(data.len() as u32).to_be_bytes());
    w.write_all(&head).await?;
    w.write_all(data).await?;
    w.flush().await
}

/// Reads one frame; `None` at a clean EOF between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 5];
    match r.read_exact(&mut head[..1]).await {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(err) => return Err(err),
    }
    r.read_exact(&mut head[1..]).await?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("shell frame of {len} bytes"),
        ));
    }
    let mut data = vec![0u8; len as usize];
    r.read_exact(&mut data).await?;
    Ok(Some((head[0], data)))
}

/// The host's side: sends `request` on `conn` (a fresh connection to the
/// machine's socket), copies `input` to the shell (and its EOF), sizes from
/// `resizes` to the terminal, the shell's output to `output`, and returns
/// its exit status.
pub async fn client<C, I, O>(
    conn: C,
    request: &ShellRequest,
    mut input: I,
    mut output: O,
    mut resizes: tokio::sync::mpsc::Receiver<(u16, u16)>,
) -> Result<i32, RelayError>
where
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin,
{
    let io = |e| RelayError::io("talking to the VM's shell", e);
    let (mut r, mut w) = tokio::io::split(conn);
    w.write_all(&request.encode()).await.map_err(io)?;
    let writer = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        let (mut input_open, mut resizes_open) = (true, true);
        while input_open || resizes_open {
            tokio::select! {
                n = input.read(&mut buf), if input_open => match n {
                    Ok(0) | Err(_) => {
                        input_open = false;
                        if write_frame(&mut w, STDIN_EOF, &[]).await.is_err() {
                            break;
                        }
                    }
                    Ok(n) => {
                        if write_frame(&mut w, STDIN, &buf[..n]).await.is_err() {
                            break;
                        }
                    }
                },
                size = resizes.recv(), if resizes_open => match size {
                    Some((rows, cols)) => {
                        let mut data = rows.to_be_bytes().to_vec();
                        data.extend_from_slice(&cols.to_be_bytes());
                        if write_frame(&mut w, RESIZE, &data).await.is_err() {
                            break;
                        }
                    }
                    // No terminal (or it went away): stdin alone matters.
                    None => resizes_open = false,
                },
            }
        }
    });
    let mut status = None;
    while let Some((kind, data)) = read_frame(&mut r).await.map_err(io)? {
        match kind {
            OUTPUT => {
                output.write_all(&data).await.map_err(io)?;
                output.flush().await.map_err(io)?;
            }
            EXIT if data.len() == 4 => {
                status = Some(i32::from_be_bytes([data[0], data[1], data[2], data[3]]));
            }
            ERROR => {
                output
                    .write_all(format!("skiff: {}\n", String::from_utf8_lossy(&data)).as_bytes())
                    .await
                    .map_err(io)?;
            }
            _ => {}
        }
    }
    writer.abort();
    status.ok_or_else(|| {
        io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the VM closed the shell without an exit status (is the machine's relay older than this skiff?)",
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let req = ShellRequest {
            tty: false,
            rows: 24,
            cols: 80,
            term: "xterm-256color".into(),
            args: vec![
                "sh".into(),
                "-c".into(),
                "echo 'a b'; exit 3".into(),
                String::new(),
            ],
        };
        let line = req.encode();
        assert!(line.starts_with(MAGIC) && line.ends_with(b"\n"));
        assert_eq!(ShellRequest::decode(&line[..line.len() - 1]), Some(req));
        assert_eq!(ShellRequest::decode(b"SKIFF-SHELL/1 tty 1 2 -"), None);
        assert_eq!(ShellRequest::decode(b"GET / HTTP/1.1"), None);
    }

    #[tokio::test]
    async fn frames_round_trip() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        write_frame(&mut a, OUTPUT, b"hello").await.expect("write");
        write_frame(&mut a, EXIT, &3i32.to_be_bytes())
            .await
            .expect("write");
        drop(a);
        assert_eq!(
            read_frame(&mut b).await.expect("read"),
            Some((OUTPUT, b"hello".to_vec()))
        );
        assert_eq!(
            read_frame(&mut b).await.expect("read"),
            Some((EXIT, vec![0, 0, 0, 3]))
        );
        assert_eq!(read_frame(&mut b).await.expect("read"), None);
    }
}
