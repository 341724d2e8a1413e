//! kafka-rs: Apache Kafka rebuilt in Rust as one binary.
//!
//! The crate is layered; each layer uses only the layers below it, so a
//! `use` that points upward means the code belongs elsewhere.
//!
//! ```text
//!  edge          cli/ (one module per subcommand), main.rs; anyhow stops here
//!  runtimes      broker/   network, request handlers, partitions, replica manager
//!                zk/       ZooKeeper-compatible server
//!                cluster/  Kafka's znode layout over a ZooKeeper client
//!                client/   Kafka client for the CLI and for follower fetchers
//!                connect/  Kafka Connect workers (a runtime over client/)
//!  state         coordinator/ (groups, offsets), transaction/ (transaction
//!  machines      coordinator), controller/ (elections, ISR, assignment):
//!                events in, new state + records/commands out
//!  codecs        protocol/ (Kafka wire framing, error codes, fetch writer)
//!  storage       log/: segments, indexes, recovery, retention, compaction
//!  foundations   types, time, sync (locks), record (RecordBatch v2), config
//! ```
//!
//! `log` knows files and nothing of sockets or tokio: a read returns a file
//! slice, and only the broker turns it into `sendfile`.

pub mod broker;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod config;
pub mod connect;
pub mod controller;
pub mod coordinator;
pub mod http;
pub mod log;
pub mod metrics;
pub mod protocol;
pub mod record;
pub mod resident;
pub mod security;
pub mod sync;
#[cfg(test)]
mod test_support;
pub mod time;
pub mod transaction;
pub mod types;
pub mod zk;
