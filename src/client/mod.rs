//! A Kafka client over tokio: connections with version negotiation,
//! bootstrap and metadata, an admin client, a producer and a consumer.
//!
//! It speaks only the public protocol, so it works against any Kafka broker
//! (ours or Apache Kafka). The CLI and the broker's follower fetcher use it;
//! it never touches a log dir.

pub mod acl_admin;
pub mod admin;
pub mod assignor;
pub mod cluster;
pub mod connection;
pub mod consumer;
pub mod error;
pub mod group_member;
pub mod groups;
pub mod membership;
pub mod producer;
pub mod quota_admin;
pub mod scram_admin;
pub mod transaction_manager;
pub mod transactions;

pub use cluster::{ClientConfig, Cluster};
pub use error::{Error, Result};
