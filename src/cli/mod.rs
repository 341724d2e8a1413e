//! The command line: one module per subcommand, each a clap definition plus a
//! `run` that calls the library. Errors become one line on stderr here.

use clap::{CommandFactory, Parser, Subcommand};

mod docs;
mod dump_log;
pub mod server_start;
pub mod server_stop;
mod zookeeper_shell;
mod zookeeper_start;
mod zookeeper_stop;

/// Apache Kafka rebuilt in Rust: broker, ZooKeeper-compatible coordinator and
/// Kafka's command-line tools in one binary.
#[derive(Debug, Parser)]
#[command(name = "kafka-rs", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print shell completions (bash, zsh, fish) to stdout.
    Completions(docs::CompletionsArgs),
    /// Write one man page per subcommand into a directory.
    Man(docs::ManArgs),
    /// Print the batches, records and index entries of log segment files (kafka-dump-log.sh).
    DumpLog(dump_log::DumpLogArgs),
    /// Start a Kafka broker (kafka-server-start.sh).
    ServerStart(server_start::ServerStartArgs),
    /// Stop the brokers started on this machine (kafka-server-stop.sh).
    ServerStop(server_stop::ServerStopArgs),
    /// Inspect a ZooKeeper server: ls, get, stat, create, set, delete, deleteall.
    ZookeeperShell(zookeeper_shell::ZookeeperShellArgs),
    /// Run the ZooKeeper-compatible server (bin/zookeeper-server-start.sh).
    ZookeeperStart(zookeeper_start::ZookeeperStartArgs),
    /// Stop the ZooKeeper servers started on this machine.
    ZookeeperStop(zookeeper_stop::ZookeeperStopArgs),
}

/// Runs a parsed command line; the caller prints the error and picks the exit code.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Completions(args) => docs::completions(args),
        Command::Man(args) => docs::man(args),
        Command::DumpLog(args) => dump_log::run(args),
        Command::ServerStart(args) => server_start::run(args),
        Command::ServerStop(args) => server_stop::run(args),
        Command::ZookeeperShell(args) => zookeeper_shell::run(args),
        Command::ZookeeperStart(args) => zookeeper_start::run(args),
        Command::ZookeeperStop(args) => zookeeper_stop::run(args),
    }
}

/// The clap definition, for completions and man pages.
pub fn command() -> clap::Command {
    Cli::command()
}
