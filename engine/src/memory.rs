//! Giving memory back to the system after bursts of work. A pull or load
//! allocates tens of MiB of buffers across blocking threads, a load of
//! hundreds of API clients as much in connections; glibc keeps what is
//! freed in its arenas (it returns only the top of a heap by itself), so
//! without a trim an idle daemon's RSS stays at its peak.
//!
//! A trim returns only whole free pages: what outlives a burst must not be
//! scattered over it (the event history is packed for that reason), and
//! tables that grew with a burst give their room back when it is over
//! ([`shrink_sparse`]).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::time::Duration;

/// Return free heap memory to the system (glibc only; elsewhere a no-op).
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes
    // the arena locks itself and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Limit glibc to a few malloc arenas: skiffd's threads are mostly idle, and
/// one arena per blocking thread only multiplies retained memory.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt with M_ARENA_MAX only sets an allocator parameter; it is
    // called once at start-up before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Free heap (bytes in malloc's free chunks, resident or not) above which
/// [`trim_periodically`] trims.
const TRIM_SLACK: usize = 1 << 20;

/// Bytes free in malloc's arenas (glibc only; elsewhere 0).
fn free_heap() -> usize {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 takes the arena locks itself and returns a
        // struct by value; no pointers are involved.
        unsafe { libc::mallinfo2() }.fordblks
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    0
}

/// Start a thread (`skiffd-trim`) that every `period` returns free heap
/// memory to the system when there is more than 1 MiB of it, so that the
/// daemon's RSS comes back to its baseline within `period` after any burst
/// of work — whichever code made it. Costs one `mallinfo2` per period when
/// idle (a walk of the free lists, well under a millisecond).
pub fn trim_periodically(period: Duration) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("skiffd-trim".into())
        .stack_size(64 << 10)
        .spawn(move || {
            loop {
                std::thread::sleep(period);
                if free_heap() > TRIM_SLACK {
                    release();
                }
            }
        })
}

/// Shrinks `map`'s table when it holds fewer than a quarter of the entries
/// it has room for (a burst's peak), to twice its entries; small tables are
/// left alone. Call it after removing entries: a table never shrinks by
/// itself, and one sized by a burst stays allocated (and resident) after it.
pub fn shrink_sparse<K: Eq + Hash, V, S: BuildHasher>(map: &mut HashMap<K, V, S>) {
    const SMALL: usize = 64;
    if map.capacity() > SMALL && map.len() < map.capacity() / 4 {
        map.shrink_to(map.len() * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_emptied_after_a_burst_gives_its_room_back() {
        let mut map: HashMap<u32, [u8; 64]> = (0..10_000).map(|n| (n, [0; 64])).collect();
        let peak = map.capacity();
        shrink_sparse(&mut map);
        assert_eq!(map.capacity(), peak, "a full table is left alone");
        map.retain(|n, _| *n < 100);
        shrink_sparse(&mut map);
        assert!(
            map.len() == 100 && map.capacity() < 400,
            "{}",
            map.capacity()
        );
        map.clear();
        shrink_sparse(&mut map);
        assert_eq!(map.capacity(), 0);
        // Below the floor nothing moves.
        let mut small: HashMap<u32, u32> = (0..50).map(|n| (n, n)).collect();
        let cap = small.capacity();
        small.clear();
        shrink_sparse(&mut small);
        assert_eq!(small.capacity(), cap);
    }
}
