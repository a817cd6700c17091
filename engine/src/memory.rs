//! Giving memory back to the system after bursts of work. A pull or load
//! allocates tens of MiB of buffers across blocking threads; glibc keeps the
//! freed memory in per-thread arenas, so without a trim an idle daemon's RSS
//! stays at its peak.

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
