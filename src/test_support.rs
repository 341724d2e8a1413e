//! What the unit tests share: the configuration of property tests.

use proptest::test_runner::{Config, RngSeed};

/// A property test that runs `cases` cases from a fixed `seed`, so a run
/// is the same on every machine and a failure reproduces as it was seen;
/// nothing is written beside the sources.
pub fn seeded(cases: u32, seed: u64) -> Config {
    Config { cases, rng_seed: RngSeed::Fixed(seed), failure_persistence: None, ..Config::default() }
}
