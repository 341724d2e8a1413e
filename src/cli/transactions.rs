//! `kafka-rs transactions` (kafka-transactions.sh): `list` every broker's
//! transactions, `describe` one transactional id through its coordinator,
//! `describe-producers` of a partition, `abort` a partition's open (for
//! instance hanging) transaction; tables in Kafka's layout (each column
//! padded to its widest cell, then a tab).

use anyhow::Context;
use clap::{Args, Subcommand};

use super::client_opts::{runtime, AdminConnection};
use crate::client::transactions::{
    abort_transaction, describe_producers, describe_transaction, find_hanging, list_transactions,
    partitions_to_search, AbortSpec,
};
use crate::client::Cluster;

#[derive(Debug, Args)]
#[command(mut_arg("bootstrap_server", |a| a.required(true)))]
pub struct TransactionsArgs {
    #[command(flatten)]
    pub connection: AdminConnection,
    #[command(subcommand)]
    pub command: TransactionsCommand,
}

#[derive(Debug, Subcommand)]
pub enum TransactionsCommand {
    /// List transactions.
    List,
    /// Describe the state of an active transactional-id.
    Describe {
        /// Transactional id.
        #[arg(long, value_name = "ID", required = true)]
        transactional_id: String,
    },
    /// Describe the states of active producers for a topic partition.
    DescribeProducers {
        /// Topic name.
        #[arg(long, value_name = "TOPIC", required = true)]
        topic: String,
        /// Topic partition.
        #[arg(long, value_name = "ID", required = true)]
        partition: i32,
    },
    /// Find hanging transactions.
    FindHanging {
        /// Broker id to search for hanging transactions.
        #[arg(long, value_name = "ID", required_unless_present = "topic")]
        broker_id: Option<i32>,
        /// Topic name.
        #[arg(long, value_name = "TOPIC")]
        topic: Option<String>,
        /// Topic partition.
        #[arg(long, value_name = "ID", requires = "topic")]
        partition: Option<i32>,
        /// Maximum transaction timeout in minutes to limit the scope of the search.
        #[arg(long, value_name = "MINUTES", default_value_t = 15)]
        max_transaction_timeout: i64,
    },
    /// Abort a hanging transaction (requires administrative privileges).
    Abort {
        /// Topic name.
        #[arg(long, value_name = "TOPIC", required = true)]
        topic: String,
        /// Partition number.
        #[arg(long, value_name = "ID", required = true)]
        partition: i32,
        /// Start offset of the transaction to abort.
        #[arg(long, value_name = "OFFSET", required_unless_present = "producer_id")]
        start_offset: Option<i64>,
        /// Producer id of the transaction to abort.
        #[arg(
            long,
            value_name = "ID",
            conflicts_with = "start_offset",
            requires_all = ["producer_epoch", "coordinator_epoch"]
        )]
        producer_id: Option<i64>,
        /// Producer epoch of the transaction to abort.
        #[arg(long, value_name = "EPOCH", requires = "producer_id")]
        producer_epoch: Option<i16>,
        /// Coordinator epoch of the transaction to abort.
        #[arg(long, value_name = "EPOCH", requires = "producer_id")]
        coordinator_epoch: Option<i32>,
    },
}

/// Kafka's `prettyPrintTable`: every cell padded to its column's width and
/// followed by a tab.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| rows.iter().map(|r| r[i].len()).chain([headers[i].len()]).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        for (cell, w) in row.iter().zip(&widths) {
            out.push_str(&format!("{cell:<w$}\t"));
        }
        out.push('\n');
    }
    out
}

fn or_none(v: i64) -> String {
    if v < 0 {
        "None".to_string()
    } else {
        v.to_string()
    }
}

pub fn run(args: TransactionsArgs) -> anyhow::Result<()> {
    let config = args.connection.client_config("kafka-transactions")?;
    let rt = runtime()?;
    let cluster = rt.block_on(Cluster::connect(config))?;
    let out = match args.command {
        TransactionsCommand::List => {
            let mut listed = rt.block_on(list_transactions(&cluster))?;
            listed.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
            let rows: Vec<Vec<String>> = listed
                .into_iter()
                .map(|t| {
                    vec![
                        t.transactional_id,
                        t.coordinator.to_string(),
                        t.producer_id.to_string(),
                        t.state,
                    ]
                })
                .collect();
            table(&["TransactionalId", "Coordinator", "ProducerId", "TransactionState"], &rows)
        }
        TransactionsCommand::Describe { transactional_id } => {
            let (coordinator, s) =
                rt.block_on(describe_transaction(&cluster, &transactional_id)).with_context(
                    || format!("cannot describe transactional id {transactional_id}"),
                )?;
            let now = crate::time::now_ms();
            let start = s.transaction_start_time_ms;
            let partitions: Vec<String> = s
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(move |p| format!("{}-{p}", t.topic.0)))
                .collect();
            let row = vec![
                coordinator.to_string(),
                s.transactional_id.0.to_string(),
                s.producer_id.0.to_string(),
                s.producer_epoch.to_string(),
                s.transaction_state.to_string(),
                s.transaction_timeout_ms.to_string(),
                or_none(start),
                if start < 0 { "None".into() } else { (now - start).max(0).to_string() },
                partitions.join(","),
            ];
            table(
                &[
                    "CoordinatorId",
                    "TransactionalId",
                    "ProducerId",
                    "ProducerEpoch",
                    "TransactionState",
                    "TransactionTimeoutMs",
                    "CurrentTransactionStartTimeMs",
                    "TransactionDurationMs",
                    "TopicPartitions",
                ],
                &[row],
            )
        }
        TransactionsCommand::DescribeProducers { topic, partition } => {
            let producers = rt
                .block_on(describe_producers(&cluster, &topic, partition))
                .with_context(|| format!("cannot describe the producers of {topic}-{partition}"))?;
            let rows: Vec<Vec<String>> = producers
                .into_iter()
                .map(|p| {
                    vec![
                        p.producer_id.0.to_string(),
                        p.producer_epoch.to_string(),
                        p.coordinator_epoch.to_string(),
                        p.last_sequence.to_string(),
                        p.last_timestamp.to_string(),
                        or_none(p.current_txn_start_offset),
                    ]
                })
                .collect();
            table(
                &[
                    "ProducerId",
                    "ProducerEpoch",
                    "LatestCoordinatorEpoch",
                    "LastSequence",
                    "LastTimestamp",
                    "CurrentTransactionStartOffset",
                ],
                &rows,
            )
        }
        TransactionsCommand::FindHanging {
            broker_id,
            topic,
            partition,
            max_transaction_timeout,
        } => {
            let now = crate::time::now_ms();
            let found = rt.block_on(async {
                let partitions =
                    partitions_to_search(&cluster, topic.as_deref(), partition, broker_id).await?;
                let max_ms = max_transaction_timeout.saturating_mul(60_000);
                find_hanging(&cluster, &partitions, max_ms, now).await
            })?;
            if found.is_empty() {
                "No hanging transactions found\n".to_string()
            } else {
                let rows: Vec<Vec<String>> = found
                    .into_iter()
                    .map(|h| {
                        let p = h.producer;
                        vec![
                            h.topic,
                            h.partition.to_string(),
                            p.producer_id.0.to_string(),
                            p.producer_epoch.to_string(),
                            p.coordinator_epoch.to_string(),
                            p.current_txn_start_offset.to_string(),
                            p.last_timestamp.to_string(),
                            (now.saturating_sub(p.last_timestamp) / 60_000).to_string(),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "Topic",
                        "Partition",
                        "ProducerId",
                        "ProducerEpoch",
                        "CoordinatorEpoch",
                        "StartOffset",
                        "LastTimestamp",
                        "Duration(min)",
                    ],
                    &rows,
                )
            }
        }
        TransactionsCommand::Abort {
            topic,
            partition,
            start_offset,
            producer_id,
            producer_epoch,
            coordinator_epoch,
        } => {
            let spec = match (start_offset, producer_id, producer_epoch, coordinator_epoch) {
                (_, Some(producer_id), Some(producer_epoch), Some(coordinator_epoch)) => {
                    AbortSpec { producer_id, producer_epoch, coordinator_epoch }
                }
                (Some(offset), ..) => {
                    // Kafka's tool finds the producer whose open transaction
                    // starts there.
                    let producers =
                        rt.block_on(describe_producers(&cluster, &topic, partition)).with_context(
                            || format!("cannot describe the producers of {topic}-{partition}"),
                        )?;
                    let p = producers
                        .into_iter()
                        .find(|p| p.current_txn_start_offset == offset)
                        .with_context(|| {
                            format!(
                                "Could not find any open transactions starting at offset {offset} on partition {topic}-{partition}"
                            )
                        })?;
                    AbortSpec {
                        producer_id: p.producer_id.0,
                        producer_epoch: p.producer_epoch.try_into().unwrap_or(i16::MAX),
                        coordinator_epoch: p.coordinator_epoch.max(0),
                    }
                }
                _ => anyhow::bail!(
                    "--start-offset or --producer-id, --producer-epoch and --coordinator-epoch"
                ),
            };
            rt.block_on(abort_transaction(&cluster, &topic, partition, spec))
                .with_context(|| format!("cannot abort the transaction on {topic}-{partition}"))?;
            String::new()
        }
    };
    print!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_each_column_and_ends_cells_with_a_tab() {
        let rows = vec![vec!["a-long-id".to_string(), "1".to_string()]];
        assert_eq!(
            table(&["TransactionalId", "Coordinator"], &rows),
            "TransactionalId\tCoordinator\t\na-long-id      \t1          \t\n"
        );
    }
}
