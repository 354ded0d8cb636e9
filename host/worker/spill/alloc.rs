//! Allocator tuning for worker processes ([`tune_allocator`]).

/// Makes glibc's allocator hand large buffers straight back to the system:
/// buffers of 1 MiB and more are mapped and unmapped on their own (glibc
/// would otherwise raise that threshold after the first large free and
/// then keep freed multi-megabyte buffers in its heap), and at most two
/// arenas are kept for all threads. Without it a worker's peak RSS is
/// about twice its memory limit (see docs/PERFORMANCE.md). Call it early
/// in a worker process (it is process-wide; embedded workers in `mr run`
/// and tests leave the allocator alone); a no-op elsewhere than glibc.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
        const M_ARENA_MAX: std::ffi::c_int = -8;
        extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        // SAFETY: `mallopt` only changes allocator tunables; both are valid
        // parameters with in-range values, and glibc serialises the call.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 1 << 20);
            mallopt(M_ARENA_MAX, 2);
        }
    }
}
