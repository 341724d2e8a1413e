//! `kafka-rs server-stop`, Kafka's kafka-server-stop.sh: send SIGTERM to
//! every `kafka-rs server-start` process of this machine (found through
//! /proc), so each shuts down cleanly.

use anyhow::bail;

#[derive(Debug, clap::Args)]
pub struct ServerStopArgs {}

pub fn run(_args: ServerStopArgs) -> anyhow::Result<()> {
    let brokers = find_brokers();
    if brokers.is_empty() {
        bail!("No kafka server to stop");
    }
    for pid in brokers {
        if let Some(p) = rustix::process::Pid::from_raw(pid) {
            if let Err(e) = rustix::process::kill_process(p, rustix::process::Signal::TERM) {
                eprintln!("cannot signal process {pid}: {e}");
            }
        }
    }
    Ok(())
}

/// Pids whose command line is `.../kafka-rs ... server-start ...`.
fn find_brokers() -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmd| is_broker_cmdline(&cmd))
        })
        .collect()
}

fn is_broker_cmdline(cmdline: &[u8]) -> bool {
    let mut args = cmdline.split(|&b| b == 0).filter(|a| !a.is_empty());
    let Some(argv0) = args.next() else { return false };
    argv0.ends_with(b"kafka-rs") && args.any(|a| a == b"server-start")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_broker_command_lines() {
        let cases: &[(&[u8], bool, &str)] = &[
            (b"/x/kafka-rs\0server-start\0config/server.properties\0", true, "a broker"),
            (b"kafka-rs\0server-start\0", true, "relative argv0"),
            (b"/x/kafka-rs\0topics\0--list\0", false, "another subcommand"),
            (b"vim\0server-start\0", false, "not our binary"),
            (b"", false, "kernel threads have empty command lines"),
        ];
        for (cmd, want, why) in cases {
            assert_eq!(is_broker_cmdline(cmd), *want, "{why}");
        }
    }
}
