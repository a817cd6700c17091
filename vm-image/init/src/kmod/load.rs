//! Loading modules into the kernel: `finit_module(2)`; compressed modules
//! (`.ko.xz`, `.ko.zst`, `.ko.gz`) through `MODULE_INIT_COMPRESSED_FILE`
//! when the kernel decompresses (CONFIG_MODULE_DECOMPRESS), otherwise
//! decompressed here and handed to `init_module(2)`.

use std::ffi::CStr;
use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::deps::Module;

/// `MODULE_INIT_COMPRESSED_FILE` from `<linux/module.h>` (Linux 5.17+).
const MODULE_INIT_COMPRESSED_FILE: libc::c_uint = 4;

/// Why a module did not load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("reading module {path}: {source}")]
    Read {
        /// The module file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The kernel refused it.
    #[error("loading module {path}: {source}")]
    Kernel {
        /// The module file.
        path: PathBuf,
        /// The errno.
        source: std::io::Error,
    },
}

/// How a module file is compressed (by its name, as kmod decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain ELF.
    None,
    /// `.ko.xz`.
    Xz,
    /// `.ko.zst`.
    Zstd,
    /// `.ko.gz`.
    Gzip,
}

impl Compression {
    /// From the file name.
    pub fn of(path: &Path) -> Self {
        let name = path.to_string_lossy();
        if name.ends_with(".xz") {
            Self::Xz
        } else if name.ends_with(".zst") {
            Self::Zstd
        } else if name.ends_with(".gz") {
            Self::Gzip
        } else {
            Self::None
        }
    }
}

/// Whether the module is already in the kernel (loaded, or built in with a
/// `/sys/module` entry).
pub fn is_loaded(name: &str) -> bool {
    Path::new("/sys/module").join(name).exists()
}

/// Loads one module (already loaded = success).
pub fn load(dir: &Path, module: &Module) -> Result<(), LoadError> {
    let path = dir.join(&module.path);
    let file = File::open(&path).map_err(|source| LoadError::Read {
        path: path.clone(),
        source,
    })?;
    let compression = Compression::of(&path);
    let flags = if compression == Compression::None {
        0
    } else {
        MODULE_INIT_COMPRESSED_FILE
    };
    match finit_module(&file, flags) {
        Ok(()) => return Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => return Ok(()),
        // EINVAL: the kernel does not know the flag (or cannot decompress
        // this format); EOPNOTSUPP: built without MODULE_DECOMPRESS.
        Err(e)
            if compression != Compression::None
                && matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EOPNOTSUPP)) => {}
        Err(source) => return Err(LoadError::Kernel { path, source }),
    }
    let image = decompress(file, compression).map_err(|source| LoadError::Read {
        path: path.clone(),
        source,
    })?;
    match init_module(&image) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        Err(source) => Err(LoadError::Kernel { path, source }),
    }
}

/// The module's ELF image.
pub fn decompress(mut file: File, compression: Compression) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    match compression {
        Compression::None => {
            file.read_to_end(&mut out)?;
        }
        Compression::Gzip => {
            flate2::read::GzDecoder::new(file).read_to_end(&mut out)?;
        }
        Compression::Zstd => {
            zstd::stream::read::Decoder::new(file)?.read_to_end(&mut out)?;
        }
        Compression::Xz => {
            let mut reader = std::io::BufReader::new(file);
            lzma_rs::xz_decompress(&mut reader, &mut out)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        }
    }
    Ok(out)
}

fn finit_module(file: &File, flags: libc::c_uint) -> std::io::Result<()> {
    let params: &CStr = c"";
    // SAFETY: finit_module reads the open file descriptor and a
    // NUL-terminated parameter string that outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_finit_module,
            file.as_raw_fd(),
            params.as_ptr(),
            flags,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn init_module(image: &[u8]) -> std::io::Result<()> {
    let params: &CStr = c"";
    // SAFETY: the kernel copies `image.len()` bytes from a live slice and
    // reads a NUL-terminated parameter string; neither is kept.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_init_module,
            image.as_ptr(),
            image.len() as libc::c_ulong,
            params.as_ptr(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn compression_by_name() {
        assert_eq!(Compression::of(Path::new("a/b.ko")), Compression::None);
        assert_eq!(Compression::of(Path::new("a/b.ko.xz")), Compression::Xz);
        assert_eq!(Compression::of(Path::new("a/b.ko.zst")), Compression::Zstd);
        assert_eq!(Compression::of(Path::new("a/b.ko.gz")), Compression::Gzip);
    }

    fn roundtrip(compression: Compression, encoded: Vec<u8>, plain: &[u8]) {
        let mut f = tempfile::tempfile().expect("tempfile");
        f.write_all(&encoded).expect("write");
        std::io::Seek::rewind(&mut f).expect("rewind");
        assert_eq!(decompress(f, compression).expect("decompress"), plain);
    }

    #[test]
    fn decompresses_every_format() {
        let plain: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        roundtrip(Compression::None, plain.clone(), &plain);
        roundtrip(
            Compression::Zstd,
            zstd::encode_all(&plain[..], 3).expect("zstd"),
            &plain,
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).expect("gz");
        roundtrip(Compression::Gzip, gz.finish().expect("gz"), &plain);
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &plain[..], &mut xz).expect("xz");
        roundtrip(Compression::Xz, xz, &plain);
    }

    #[test]
    fn corrupt_data_is_an_error() {
        let mut f = tempfile::tempfile().expect("tempfile");
        f.write_all(b"not xz at all").expect("write");
        std::io::Seek::rewind(&mut f).expect("rewind");
        assert!(decompress(f, Compression::Xz).is_err());
    }
}
