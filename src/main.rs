//! The `custos` binary: everything lives in the library; see `custos --help`.

/// mimalloc: the hot path allocates a few dozen small strings per event, and glibc's malloc spent
/// a third of the replay's time consolidating and contending for its arenas (`cargo bench --bench
/// stages`, BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    no_transparent_huge_pages();
    custos::cli::main()
}

/// Transparent huge pages off for this process, unless `MIMALLOC_ALLOW_THP` is set (then mimalloc
/// follows it). Events are allocated on one thread and freed on another after their insert, so
/// mimalloc keeps taking fresh pages, and with THP the kernel zeroes 2 MiB for each: a third of a
/// file replay's CPU. Off, the same replay took 20 % less CPU and 13 % less wall time
/// (BENCHMARKS.md, 2026-12-07 (late)).
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: PR_SET_THP_DISABLE takes no pointers; it sets a flag on this process, read at
        // page-fault time. A kernel without it returns an error, which changes nothing.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
}
