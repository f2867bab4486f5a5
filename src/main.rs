//! The `custos` binary: everything lives in the library; see `custos --help`.

fn main() -> std::process::ExitCode {
    custos::cli::main()
}
