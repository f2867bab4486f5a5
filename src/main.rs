//! The `custos` binary: everything lives in the library; see `custos --help`.

/// mimalloc: the hot path allocates a few dozen small strings per event, and glibc's malloc spent
/// a third of the replay's time consolidating and contending for its arenas (`cargo bench --bench
/// stages`, BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    custos::cli::main()
}
