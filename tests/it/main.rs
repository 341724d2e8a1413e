//! One integration-test binary with a module per theme: real processes, real
//! sockets on 127.0.0.1, free ports, temp dirs.

mod broker_bad_input;
mod broker_connections;
mod broker_fetch;
mod broker_fuzz;
mod broker_interop;
mod broker_start;
mod broker_support;
mod cli_console;
mod cli_formatters;
mod cli_interop;
mod cli_topics;
mod connect;
mod docs;
mod dump_log;
mod failover;
mod faults;
mod groups;
mod groups_list;
mod log_crash;
mod log_dirs;
mod perf_metrics;
mod replication;
mod replication_failover;
mod support;
mod top;
mod transactions;
mod zk_cluster;
mod zk_crash;
mod zk_harness;
mod zk_interop;
mod zk_server;
mod zk_storage;
