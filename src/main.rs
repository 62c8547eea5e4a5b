//! The `doorman` binary: everything is in `doorman::cli`.

fn main() -> std::process::ExitCode {
    doorman::cli::main(std::env::args().skip(1).collect())
}
