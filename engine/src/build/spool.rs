//! A copy of the (decompressed) build context tar, kept while the build
//! runs so the context is extracted only when a step needs its files (a
//! `COPY` that misses the cache): a fully cached rebuild writes none of
//! them. Up to [`MEMORY_LIMIT`] bytes are held in memory; a larger context
//! spills to an unlinked file in the build's scratch directory.

use std::io::{self, BufWriter, Cursor, Read, Seek, Write};
use std::path::PathBuf;

/// The largest context held in memory.
pub const MEMORY_LIMIT: usize = 128 * 1024 * 1024;

/// The size of the memory chunks a copy is held in: a context is
/// appended chunk by chunk, never moved as a growing buffer would be.
const CHUNK: usize = 1024 * 1024;

/// Where the copy goes while the context is received.
#[derive(Debug)]
pub struct SpoolWriter {
    memory: Vec<Vec<u8>>,
    held: usize,
    file: Option<BufWriter<std::fs::File>>,
    dir: PathBuf,
    limit: usize,
}

/// The finished copy.
#[derive(Debug)]
pub enum Spool {
    /// Held in memory, in chunks.
    Memory(Vec<Vec<u8>>),
    /// Spilled to an unlinked file.
    File(std::fs::File),
}

impl SpoolWriter {
    /// A copy that spills to a file in `dir` past `limit` bytes.
    pub fn new(dir: PathBuf, limit: usize) -> Self {
        Self {
            memory: Vec::new(),
            held: 0,
            file: None,
            dir,
            limit,
        }
    }

    /// The copy, ready to be read from its start.
    pub fn finish(self) -> io::Result<Spool> {
        match self.file {
            None => Ok(Spool::Memory(self.memory)),
            Some(w) => {
                let mut f = w.into_inner().map_err(|e| e.into_error())?;
                f.rewind()?;
                Ok(Spool::File(f))
            }
        }
    }

    /// Append `buf` to the chunks in memory.
    fn hold(&mut self, mut buf: &[u8]) {
        self.held += buf.len();
        while !buf.is_empty() {
            let room = self.memory.last().map_or(0, |c| c.capacity() - c.len());
            if room == 0 {
                self.memory.push(Vec::with_capacity(CHUNK));
                continue;
            }
            let n = room.min(buf.len());
            if let Some(last) = self.memory.last_mut() {
                last.extend_from_slice(&buf[..n]);
            }
            buf = &buf[n..];
        }
    }
}

impl Write for SpoolWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.file.is_none() && self.held + buf.len() > self.limit {
            let mut w = BufWriter::with_capacity(CHUNK, tempfile::tempfile_in(&self.dir)?);
            for chunk in std::mem::take(&mut self.memory) {
                w.write_all(&chunk)?;
            }
            self.held = 0;
            self.file = Some(w);
        }
        match &mut self.file {
            Some(w) => w.write_all(buf)?,
            None => self.hold(buf),
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Spool {
    /// A reader of the copy from its start.
    pub fn reader(self) -> Box<dyn Read> {
        match self {
            Spool::Memory(chunks) => Box::new(Chunks {
                chunks: chunks.into_iter(),
                current: Cursor::new(Vec::new()),
            }),
            Spool::File(f) => Box::new(io::BufReader::with_capacity(256 * 1024, f)),
        }
    }
}

/// A reader of chunks in order.
struct Chunks {
    chunks: std::vec::IntoIter<Vec<u8>>,
    current: Cursor<Vec<u8>>,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.current.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            match self.chunks.next() {
                Some(c) => self.current = Cursor::new(c),
                None => return Ok(0),
            }
        }
    }
}

/// A reader that copies what it passes into a [`SpoolWriter`].
#[derive(Debug)]
pub struct Spooling<R> {
    inner: R,
    /// The copy so far.
    pub spool: SpoolWriter,
}

impl<R> Spooling<R> {
    /// Copy what `inner` gives into `spool`.
    pub fn new(inner: R, spool: SpoolWriter) -> Self {
        Self { inner, spool }
    }
}

impl<R: Read> Read for Spooling<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.spool.write_all(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_copies_stay_in_memory_large_ones_spill() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (limit, in_memory) in [(1024, true), (10, false)] {
            let data: Vec<u8> = (0..100u8).collect();
            let mut r = Spooling::new(&data[..], SpoolWriter::new(dir.path().into(), limit));
            io::copy(&mut r, &mut io::sink()).expect("copy");
            let spool = r.spool.finish().expect("finish");
            assert_eq!(matches!(spool, Spool::Memory(_)), in_memory);
            let mut back = Vec::new();
            spool.reader().read_to_end(&mut back).expect("read");
            assert_eq!(back, data);
        }
    }

    #[test]
    fn copies_larger_than_a_chunk_read_back_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 251) as u8).collect();
        let mut r = Spooling::new(&data[..], SpoolWriter::new(dir.path().into(), 8 * CHUNK));
        io::copy(&mut r, &mut io::sink()).expect("copy");
        let spool = r.spool.finish().expect("finish");
        assert!(matches!(&spool, Spool::Memory(c) if c.len() == 4));
        let mut back = Vec::new();
        spool.reader().read_to_end(&mut back).expect("read");
        assert_eq!(back, data);
    }
}
