//! Kafka Connect: workers that move data between files and topics with
//! Kafka's file connectors and converters, managed through Kafka's REST
//! API. A runtime over `client` (producer, consumer, group membership,
//! admin): it never touches a log dir, so it runs against any cluster.
//!
//! `standalone` runs every connector in one process with offsets in a
//! file; `distributed` shares connectors and tasks between workers through
//! a group and three compacted topics. `herder` keeps the connectors and
//! runs the local `tasks`; `rest` serves the API over `crate::http`.

pub mod converter;
pub mod distributed;
pub mod error;
pub mod group;
pub mod herder;
pub mod offsets;
pub mod plugins;
pub mod rest;
pub mod standalone;
pub mod tasks;
pub mod topic_log;
pub mod worker;

pub use error::{Error, Result};
