//! The `mr` binary: parses arguments and runs the chosen subcommand.

fn main() -> std::process::ExitCode {
    mapreduce::cli::main()
}
