//! The command line: one module per subcommand, each a clap definition plus a
//! `run` that calls the library. Errors become one line on stderr here.

use clap::{CommandFactory, Parser, Subcommand};

pub mod acls;
mod client_opts;
pub mod configs;
pub mod configs_quotas;
pub mod connect;
pub mod console_consumer;
pub mod console_producer;
pub mod consumer_groups;
pub mod consumer_perf_test;
mod deserializer;
mod docs;
mod dump_log;
mod dump_log_parsers;
pub mod get_offsets;
pub mod leader_election;
mod log_writer;
mod perf;
pub mod producer_perf_test;
pub mod reassign_partitions;
pub mod server_start;
pub mod server_stop;
mod top;
pub mod topics;
pub mod transactions;
mod zookeeper_bootstrap;
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
    /// Add, remove and list ACLs (kafka-acls.sh).
    Acls(acls::AclsArgs),
    /// Describe and alter topic, broker, user and client configs (kafka-configs.sh).
    Configs(configs::ConfigsArgs),
    /// Run a Kafka Connect worker alone, with offsets in a file (connect-standalone.sh).
    ConnectStandalone(connect::ConnectStandaloneArgs),
    /// Run a Kafka Connect worker in a cluster of workers (connect-distributed.sh).
    ConnectDistributed(connect::ConnectDistributedArgs),
    /// Print a topic's records to stdout (kafka-console-consumer.sh).
    ConsoleConsumer(console_consumer::ConsoleConsumerArgs),
    /// Send stdin lines as records to a topic (kafka-console-producer.sh).
    ConsoleProducer(console_producer::ConsoleProducerArgs),
    /// List, describe and delete consumer groups, reset their offsets (kafka-consumer-groups.sh).
    ConsumerGroups(consumer_groups::ConsumerGroupsArgs),
    /// Measure consumer throughput (kafka-consumer-perf-test.sh).
    ConsumerPerfTest(consumer_perf_test::ConsumerPerfTestArgs),
    /// Print partition offsets at a time (kafka-get-offsets.sh).
    GetOffsets(get_offsets::GetOffsetsArgs),
    /// Elect preferred or unclean partition leaders (kafka-leader-election.sh).
    LeaderElection(leader_election::LeaderElectionArgs),
    /// Move partition replicas between brokers (kafka-reassign-partitions.sh).
    ReassignPartitions(reassign_partitions::ReassignPartitionsArgs),
    /// Measure producer throughput and latency (kafka-producer-perf-test.sh).
    ProducerPerfTest(producer_perf_test::ProducerPerfTestArgs),
    /// Create, list, describe, alter and delete topics (kafka-topics.sh).
    Topics(topics::TopicsArgs),
    /// List and describe transactions and the producers of a partition (kafka-transactions.sh).
    Transactions(transactions::TransactionsArgs),
    /// Start a Kafka broker (kafka-server-start.sh).
    ServerStart(server_start::ServerStartArgs),
    /// Stop the brokers started on this machine (kafka-server-stop.sh).
    ServerStop(server_stop::ServerStopArgs),
    /// A live terminal view of brokers, topics, partitions and consumer-group lag.
    Top(top::TopArgs),
    /// Inspect a ZooKeeper server: ls, get, stat, create, set, delete, deleteall.
    ZookeeperShell(zookeeper_shell::ZookeeperShellArgs),
    /// Run the ZooKeeper-compatible server (bin/zookeeper-server-start.sh).
    ZookeeperStart(zookeeper_start::ZookeeperStartArgs),
    /// Stop the ZooKeeper servers started on this machine.
    ZookeeperStop(zookeeper_stop::ZookeeperStopArgs),
}

/// An error already worded the way the Kafka tool prints it (with its own
/// prefix, e.g. `Error while executing topic command : ...`); main prints it
/// as is instead of adding `Error: `.
#[derive(Debug)]
pub struct Failed(pub String);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failed {}

/// Runs a parsed command line; the caller prints the error and picks the exit code.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Completions(args) => docs::completions(args),
        Command::Man(args) => docs::man(args),
        Command::DumpLog(args) => dump_log::run(args),
        Command::Acls(args) => acls::run(args),
        Command::Configs(args) => configs::run(args),
        Command::ConnectStandalone(args) => connect::standalone(args),
        Command::ConnectDistributed(args) => connect::distributed(args),
        Command::ConsoleConsumer(args) => console_consumer::run(args),
        Command::ConsoleProducer(args) => console_producer::run(args),
        Command::ConsumerGroups(args) => consumer_groups::run(args),
        Command::ConsumerPerfTest(args) => consumer_perf_test::run(args),
        Command::GetOffsets(args) => get_offsets::run(args),
        Command::LeaderElection(args) => leader_election::run(args),
        Command::ProducerPerfTest(args) => producer_perf_test::run(args),
        Command::ReassignPartitions(args) => reassign_partitions::run(args),
        Command::Topics(args) => topics::run(args),
        Command::Transactions(args) => transactions::run(args),
        Command::ServerStart(args) => server_start::run(args),
        Command::ServerStop(args) => server_stop::run(args),
        Command::Top(args) => top::run(args),
        Command::ZookeeperShell(args) => zookeeper_shell::run(args),
        Command::ZookeeperStart(args) => zookeeper_start::run(args),
        Command::ZookeeperStop(args) => zookeeper_stop::run(args),
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub(crate) fn init_stderr_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// The clap definition, for completions and man pages.
pub fn command() -> clap::Command {
    Cli::command()
}
