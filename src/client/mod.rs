//! A Kafka client: what a consumer-group member computes (assignors and the
//! consumer protocol's encodings).

pub mod assignor;
