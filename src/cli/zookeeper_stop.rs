//! `kafka-rs zookeeper-stop`: sends SIGTERM to every `kafka-rs
//! zookeeper-start` on this machine, as bin/zookeeper-server-stop.sh does
//! for QuorumPeerMain. The server finishes its log writes and exits.

use clap::Args;

#[derive(Debug, Args)]
pub struct ZookeeperStopArgs {}

pub fn run(_args: ZookeeperStopArgs) -> anyhow::Result<()> {
    let pids = find_processes("zookeeper-start");
    if pids.is_empty() {
        anyhow::bail!("No zookeeper server to stop");
    }
    for pid in pids {
        if let Some(p) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::TERM);
        }
    }
    Ok(())
}

/// Pids of `kafka-rs <subcommand>` processes, from /proc (argv[0] named
/// kafka-rs, argv[1] the subcommand), excluding this process.
pub(crate) fn find_processes(subcommand: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(rd) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut pids = Vec::new();
    for entry in rd.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_ours = args.first().is_some_and(|a| a.ends_with(b"kafka-rs"));
        if is_ours && args.get(1).is_some_and(|a| *a == subcommand.as_bytes()) {
            pids.push(pid);
        }
    }
    pids
}
