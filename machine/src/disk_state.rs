//! Whether the last run left the data disk mounted: read from the ext4
//! superblock of `disk.img` on the host, while no VM uses it.
//!
//! ext4 sets `needs_recovery` (`INCOMPAT_RECOVER`) in its superblock when
//! it mounts a journalled filesystem and clears it at a clean unmount. A
//! VM killed (QEMU SIGKILLed, the host crashed) with the disk mounted
//! leaves it set; the guest's next mount replays the journal (the ext4
//! journal makes that consistent), and [`crate::Manager::start`] says so.

use std::io::Read;
use std::path::Path;

/// Where the superblock starts.
const SUPERBLOCK: usize = 1024;
/// `s_magic` (u16 LE) within the superblock.
const MAGIC_AT: usize = 0x38;
/// ext2/3/4's magic.
const EXT_MAGIC: u16 = 0xEF53;
/// `s_feature_incompat` (u32 LE) within the superblock.
const INCOMPAT_AT: usize = 0x60;
/// `EXT4_FEATURE_INCOMPAT_RECOVER`: the journal must be replayed.
const INCOMPAT_RECOVER: u32 = 0x0004;

/// True when the disk image at `disk` holds an ext2/3/4 filesystem whose
/// journal needs a replay (it was not unmounted cleanly); false for a clean
/// one, and for no filesystem yet (a new disk), a missing or short file.
pub fn needs_recovery(disk: &Path) -> bool {
    let mut head = [0u8; SUPERBLOCK + INCOMPAT_AT + 4];
    let read = std::fs::File::open(disk).and_then(|mut f| f.read_exact(&mut head));
    read.is_ok() && superblock_needs_recovery(&head)
}

/// [`needs_recovery`] of the disk's first bytes (at least the superblock's
/// first 100 bytes past 1024).
fn superblock_needs_recovery(head: &[u8]) -> bool {
    let u16_at = |at: usize| {
        head.get(SUPERBLOCK + at..SUPERBLOCK + at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        head.get(SUPERBLOCK + at..SUPERBLOCK + at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    u16_at(MAGIC_AT) == Some(EXT_MAGIC)
        && u32_at(INCOMPAT_AT).is_some_and(|f| f & INCOMPAT_RECOVER != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn superblock(incompat: u32) -> Vec<u8> {
        let mut head = vec![0u8; 4096];
        head[SUPERBLOCK + MAGIC_AT..][..2].copy_from_slice(&EXT_MAGIC.to_le_bytes());
        head[SUPERBLOCK + INCOMPAT_AT..][..4].copy_from_slice(&incompat.to_le_bytes());
        head
    }

    #[test]
    fn reads_the_recover_flag() {
        // filetype | extents | 64bit | flex_bg, as mke2fs -t ext4 sets them.
        let clean = 0x0002 | 0x0040 | 0x0080 | 0x0200;
        assert!(!superblock_needs_recovery(&superblock(clean)));
        assert!(superblock_needs_recovery(&superblock(
            clean | INCOMPAT_RECOVER
        )));
        // Not ext4 (a new, empty disk): nothing to recover.
        let mut zero = superblock(INCOMPAT_RECOVER);
        zero[SUPERBLOCK + MAGIC_AT] = 0;
        assert!(!superblock_needs_recovery(&zero));
        assert!(!superblock_needs_recovery(&[0u8; 16]));
    }

    #[test]
    fn reads_a_disk_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let disk = dir.path().join("disk.img");
        assert!(!needs_recovery(&disk), "missing");
        std::fs::write(&disk, superblock(INCOMPAT_RECOVER)).expect("write");
        assert!(needs_recovery(&disk));
        std::fs::write(&disk, superblock(0)).expect("write");
        assert!(!needs_recovery(&disk));
    }

    /// A real filesystem, when mke2fs is there: fresh = clean; with the
    /// flag debugfs sets (as a kernel that died mounted leaves it) = not.
    #[test]
    fn reads_a_real_ext4_image() {
        let dir = tempfile::tempdir().expect("tempdir");
        let disk = dir.path().join("disk.img");
        std::fs::File::create(&disk)
            .and_then(|f| f.set_len(64 << 20))
            .expect("disk");
        let made = std::process::Command::new("mkfs.ext4")
            .args(["-q", "-F"])
            .arg(&disk)
            .status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("mkfs.ext4 not available: skipped");
            return;
        }
        assert!(!needs_recovery(&disk), "a fresh filesystem is clean");
        let set = std::process::Command::new("debugfs")
            .args(["-w", "-R", "feature needs_recovery"])
            .arg(&disk)
            .output();
        if set.is_ok_and(|o| o.status.success()) {
            assert!(needs_recovery(&disk), "needs_recovery set by debugfs");
        }
    }
}
