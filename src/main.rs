//! The `kafka-rs` binary: parse flags, set up logging, run a subcommand.
//! `anyhow` stops here: every error becomes one line on stderr and exit 1.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = kafka_rs::cli::Cli::parse();
    match kafka_rs::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `console-consumer | head` closes our stdout; that is success.
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            if let Some(failed) = err.downcast_ref::<kafka_rs::cli::Failed>() {
                eprintln!("{failed}");
                return ExitCode::FAILURE;
            }
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
