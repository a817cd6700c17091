//! The data disk: formatted ext4 on first boot (no ext superblock yet),
//! mounted at `/var/lib/skiff` (skiffd's data root) on every boot.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::mount::{MsFlags, mount};

use crate::error::{Context, SysError};

/// Where the data disk is mounted.
pub const MOUNT_POINT: &str = "/var/lib/skiff";
/// Written at the top of the filesystem right after it was created.
pub const FORMAT_MARKER: &str = ".skiff-formatted";
/// The formatter shipped in the image.
pub const MKE2FS: &str = "/usr/sbin/mke2fs";

/// Why the data disk is unusable.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// The device never appeared.
    #[error("data disk {0} did not appear")]
    Missing(PathBuf),
    /// A system step failed.
    #[error(transparent)]
    Sys(#[from] SysError),
    /// mke2fs failed.
    #[error("mke2fs {device} failed: {status}")]
    Mkfs {
        /// The device.
        device: PathBuf,
        /// Its exit status.
        status: std::process::ExitStatus,
    },
}

/// An ext2/3/4 superblock's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    /// The filesystem UUID, formatted as usual.
    pub uuid: String,
    /// The volume label.
    pub label: String,
}

/// Reads the ext superblock out of the 1024 bytes at offset 1024 of the
/// device (`None` when the magic 0xEF53 is absent).
pub fn parse_superblock(block: &[u8]) -> Option<Superblock> {
    if block.len() < 136 || block[56..58] != [0x53, 0xEF] {
        return None;
    }
    let u = &block[104..120];
    let hex =
        |r: std::ops::Range<usize>| u[r].iter().map(|b| format!("{b:02x}")).collect::<String>();
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        hex(0..4),
        hex(4..6),
        hex(6..8),
        hex(8..10),
        hex(10..16)
    );
    let label_bytes = &block[120..136];
    let end = label_bytes
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(label_bytes.len());
    Some(Superblock {
        uuid,
        label: String::from_utf8_lossy(&label_bytes[..end]).into_owned(),
    })
}

/// Reads the superblock of `device`.
pub fn probe(device: &Path) -> Result<Option<Superblock>, SysError> {
    let mut f = File::open(device).at("open", device)?;
    let mut block = [0u8; 1024];
    f.seek(SeekFrom::Start(1024)).at("seek", device)?;
    match f.read_exact(&mut block) {
        Ok(()) => Ok(parse_superblock(&block)),
        // A device smaller than 2 KiB has no filesystem.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(SysError::path("read", device, e)),
    }
}

/// Waits for a device node (devtmpfs creates it when the driver probes).
pub fn wait_for(device: &Path, timeout: Duration) -> Result<(), DiskError> {
    let start = Instant::now();
    while !device.exists() {
        if start.elapsed() > timeout {
            return Err(DiskError::Missing(device.to_path_buf()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// The mke2fs arguments for the data disk.
pub fn mkfs_args(device: &Path) -> Vec<String> {
    [
        "-t",
        "ext4",
        "-q",
        "-F",
        "-m",
        "0",
        "-L",
        "skiff-data",
        "-E",
        "lazy_itable_init=1,lazy_journal_init=1,nodiscard",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(std::iter::once(device.to_string_lossy().into_owned()))
    .collect()
}

/// What [`prepare`] did.
#[derive(Debug)]
pub struct Prepared {
    /// The filesystem.
    pub superblock: Superblock,
    /// Whether it was created on this boot.
    pub formatted: bool,
}

/// Formats the device if it has no ext filesystem, then mounts it at
/// [`MOUNT_POINT`]. Must run before the child reaper starts (it waits for
/// mke2fs itself).
pub fn prepare(device: &Path, uptime_ms: impl Fn() -> u64) -> Result<Prepared, DiskError> {
    wait_for(device, Duration::from_secs(5))?;
    let mut formatted = false;
    let superblock = match probe(device)? {
        Some(sb) => sb,
        None => {
            let status = Command::new(MKE2FS)
                .args(mkfs_args(device))
                .status()
                .at("run", Path::new(MKE2FS))?;
            if !status.success() {
                return Err(DiskError::Mkfs {
                    device: device.to_path_buf(),
                    status,
                });
            }
            formatted = true;
            probe(device)?.ok_or_else(|| DiskError::Missing(device.to_path_buf()))?
        }
    };
    let target = Path::new(MOUNT_POINT);
    std::fs::create_dir_all(target).at("mkdir", target)?;
    mount(
        Some(device),
        target,
        Some("ext4"),
        MsFlags::MS_NOATIME,
        None::<&str>,
    )
    .at("mount", device)?;
    if formatted {
        let marker = target.join(FORMAT_MARKER);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut f = File::create(&marker).at("create", &marker)?;
        writeln!(
            f,
            "uuid={} unix_time={now} uptime_ms={}",
            superblock.uuid,
            uptime_ms()
        )
        .at("write", &marker)?;
        f.sync_all().at("fsync", &marker)?;
    }
    Ok(Prepared {
        superblock,
        formatted,
    })
}

/// Mounts a tmpfs at [`MOUNT_POINT`] (no data disk: the engine still runs,
/// but nothing survives a reboot).
pub fn mount_tmpfs_fallback() -> Result<(), SysError> {
    let target = Path::new(MOUNT_POINT);
    std::fs::create_dir_all(target).at("mkdir", target)?;
    mount(
        Some("tmpfs"),
        target,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("mode=0711"),
    )
    .at("mount", target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_with(uuid: [u8; 16], label: &str) -> Vec<u8> {
        let mut b = vec![0u8; 1024];
        b[56] = 0x53;
        b[57] = 0xEF;
        b[104..120].copy_from_slice(&uuid);
        b[120..120 + label.len()].copy_from_slice(label.as_bytes());
        b
    }

    #[test]
    fn superblock_magic_uuid_label() {
        let uuid = [
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
            0xcd, 0xef,
        ];
        let sb = parse_superblock(&block_with(uuid, "skiff-data")).expect("superblock");
        assert_eq!(sb.uuid, "12345678-9abc-def0-0123-456789abcdef");
        assert_eq!(sb.label, "skiff-data");
        assert_eq!(parse_superblock(&[0u8; 1024]), None);
        assert_eq!(parse_superblock(&[0u8; 10]), None);
    }

    #[test]
    fn probes_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty.img");
        std::fs::write(&empty, vec![0u8; 4096]).expect("write");
        assert_eq!(probe(&empty).expect("probe"), None);
        let tiny = dir.path().join("tiny.img");
        std::fs::write(&tiny, b"x").expect("write");
        assert_eq!(probe(&tiny).expect("probe"), None);
        let fs = dir.path().join("fs.img");
        let mut img = vec![0u8; 1024];
        img.extend(block_with([7; 16], ""));
        std::fs::write(&fs, img).expect("write");
        assert_eq!(
            probe(&fs).expect("probe").map(|s| s.uuid),
            Some("07070707-0707-0707-0707-070707070707".to_string())
        );
        assert!(probe(&dir.path().join("absent")).is_err());
    }

    #[test]
    fn mkfs_arguments_end_with_the_device() {
        let args = mkfs_args(Path::new("/dev/vdb"));
        assert_eq!(args.last().map(String::as_str), Some("/dev/vdb"));
        assert!(args.windows(2).any(|w| w == ["-t", "ext4"]));
    }

    #[test]
    fn missing_devices_time_out() {
        let err = wait_for(Path::new("/nonexistent/vdz"), Duration::from_millis(20))
            .expect_err("missing");
        assert_eq!(err.to_string(), "data disk /nonexistent/vdz did not appear");
    }
}
