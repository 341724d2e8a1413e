//! completions/ and man/ are generated from the clap definitions; this fails
//! when a flag changed and they were not regenerated (scripts/regen-docs.sh).

use std::time::Duration;

use crate::support::*;

#[test]
fn completions_are_fresh() {
    for (shell, file) in
        [("bash", "kafka-rs.bash"), ("zsh", "_kafka-rs"), ("fish", "kafka-rs.fish")]
    {
        let out = kafka_rs(&["completions", shell], None, Duration::from_secs(30));
        assert!(out.status.success(), "completions {shell}: {}", stderr(&out));
        let committed = std::fs::read(repo().join("completions").join(file))
            .unwrap_or_else(|e| panic!("completions/{file}: {e}; run scripts/regen-docs.sh"));
        assert!(committed == out.stdout, "completions/{file} is stale: run scripts/regen-docs.sh");
    }
}

#[test]
fn man_pages_are_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_str().unwrap();
    let out = kafka_rs(&["man", "--out-dir", out_dir], None, Duration::from_secs(30));
    assert!(out.status.success(), "man: {}", stderr(&out));
    let mut generated: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    generated.sort();
    let mut committed: Vec<_> = std::fs::read_dir(repo().join("man"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".1"))
        .collect();
    committed.sort();
    assert_eq!(
        generated, committed,
        "man/ has other pages than kafka-rs generates: run scripts/regen-docs.sh"
    );
    for name in generated {
        let fresh = std::fs::read(dir.path().join(&name)).unwrap();
        let old = std::fs::read(repo().join("man").join(&name)).unwrap();
        assert!(fresh == old, "man/{} is stale: run scripts/regen-docs.sh", name.to_string_lossy());
    }
}
