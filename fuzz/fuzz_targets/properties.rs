//! A `.properties` file as `server-start` and `zookeeper-start` read it:
//! Java's escapes and continuations, then the broker's, the coordinator's
//! and the per-topic log settings built from its keys.

#![no_main]

use kafka_rs::broker::KafkaConfig;
use kafka_rs::config::Properties;
use kafka_rs::log::LogConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kafka_rs_fuzz::set_allocation_limit(kafka_rs_fuzz::DEFAULT_ALLOCATION_LIMIT);
    let text = String::from_utf8_lossy(data);
    let props = Properties::parse(&text);
    let _ = KafkaConfig::from_properties(&props);
    let _ = kafka_rs::zk::Config::from_properties(&props);
    let mut log = LogConfig::default();
    for (key, value) in props.iter() {
        let _ = log.set(key, value);
    }
});
