//! `kafka-rs zookeeper-shell host:port[/chroot] [command args...]`: a small
//! zkCli, like Kafka's zookeeper-shell.sh: ls, get, stat, create, set,
//! delete, deleteall. With no command it reads commands from stdin.

use std::io::{BufRead, Write};

use anyhow::{bail, Context};
use clap::Args;
use zookeeper_client as zkc;

#[derive(Debug, Args)]
pub struct ZookeeperShellArgs {
    /// The server, host:port with an optional chroot (localhost:2181/kafka).
    pub server: String,
    /// One command and its arguments; none reads commands from stdin.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn run(args: ZookeeperShellArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        println!("Connecting to {}", args.server);
        let client = zkc::Client::connector()
            .with_session_timeout(std::time::Duration::from_secs(30))
            .connect(&args.server)
            .await
            .with_context(|| format!("cannot connect to {}", args.server))?;
        let mut out = std::io::stdout().lock();
        if !args.command.is_empty() {
            return exec(&client, &args.command, &mut out).await;
        }
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let line = line?;
            let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
            if words.is_empty() {
                continue;
            }
            if matches!(words[0].as_str(), "quit" | "exit") {
                break;
            }
            if let Err(e) = exec(&client, &words, &mut out).await {
                writeln!(out, "{e:#}")?;
            }
        }
        Ok(())
    })
}

async fn exec(client: &zkc::Client, words: &[String], out: &mut impl Write) -> anyhow::Result<()> {
    let arg = |i: usize| words.get(i).map(String::as_str);
    let flags: Vec<&str> =
        words.iter().skip(1).filter(|w| w.starts_with('-')).map(String::as_str).collect();
    let plain: Vec<&str> =
        words.iter().skip(1).filter(|w| !w.starts_with('-')).map(String::as_str).collect();
    let path = |i: usize| plain.get(i).copied().context("missing path");
    match arg(0).unwrap_or("") {
        "ls" => {
            let p = path(0)?;
            let mut children = client.list_children(p).await.map_err(|e| zk_err(e, p))?;
            children.sort();
            writeln!(out, "[{}]", children.join(", "))?;
        }
        "get" => {
            let p = path(0)?;
            let (data, stat) = client.get_data(p).await.map_err(|e| zk_err(e, p))?;
            writeln!(
                out,
                "{}",
                if data.is_empty() { "null".into() } else { String::from_utf8_lossy(&data) }
            )?;
            if flags.contains(&"-s") {
                write_stat(out, &stat)?;
            }
        }
        "stat" => {
            let p = path(0)?;
            match client.check_stat(p).await.map_err(|e| zk_err(e, p))? {
                Some(stat) => write_stat(out, &stat)?,
                None => bail!("Node does not exist: {p}"),
            }
        }
        "create" => {
            let p = path(0)?;
            let data = plain.get(1).copied().unwrap_or("");
            let (e, s, c) = (flags.contains(&"-e"), flags.contains(&"-s"), flags.contains(&"-c"));
            let mode = match (e, s, c) {
                (_, _, true) => zkc::CreateMode::Container,
                (true, true, _) => zkc::CreateMode::EphemeralSequential,
                (true, false, _) => zkc::CreateMode::Ephemeral,
                (false, true, _) => zkc::CreateMode::PersistentSequential,
                _ => zkc::CreateMode::Persistent,
            };
            let opts = mode.with_acls(zkc::Acls::anyone_all());
            let (_, seq) =
                client.create(p, data.as_bytes(), &opts).await.map_err(|e| zk_err(e, p))?;
            let name = if s { format!("{p}{seq}") } else { p.to_string() };
            writeln!(out, "Created {name}")?;
        }
        "set" => {
            let p = path(0)?;
            let data = plain.get(1).copied().unwrap_or("");
            client.set_data(p, data.as_bytes(), None).await.map_err(|e| zk_err(e, p))?;
        }
        "delete" => {
            let p = path(0)?;
            client.delete(p, None).await.map_err(|e| zk_err(e, p))?;
        }
        "deleteall" | "rmr" => {
            let p = path(0)?;
            delete_all(client, p).await?;
        }
        other => bail!("Command not found: Command not found {other}"),
    }
    Ok(())
}

/// Deletes `p` and everything below it, children first.
async fn delete_all(client: &zkc::Client, p: &str) -> anyhow::Result<()> {
    let mut order = vec![p.to_string()];
    let mut i = 0;
    while i < order.len() {
        let cur = order[i].clone();
        match client.list_children(&cur).await {
            Ok(children) => {
                for c in children {
                    order.push(if cur == "/" { format!("/{c}") } else { format!("{cur}/{c}") });
                }
            }
            Err(zkc::Error::NoNode) => {}
            Err(e) => return Err(zk_err(e, &cur)),
        }
        i += 1;
    }
    for node in order.iter().rev() {
        match client.delete(node, None).await {
            Ok(()) | Err(zkc::Error::NoNode) => {}
            Err(e) => return Err(zk_err(e, node)),
        }
    }
    Ok(())
}

/// zkCli's wording for the common failures.
fn zk_err(e: zkc::Error, path: &str) -> anyhow::Error {
    match e {
        zkc::Error::NoNode => anyhow::anyhow!("Node does not exist: {path}"),
        zkc::Error::NodeExists => anyhow::anyhow!("Node already exists: {path}"),
        zkc::Error::NotEmpty => anyhow::anyhow!("Node not empty: {path}"),
        zkc::Error::NoAuth => anyhow::anyhow!("Insufficient permission : {path}"),
        other => anyhow::anyhow!("{path}: {other}"),
    }
}

fn write_stat(out: &mut impl Write, s: &zkc::Stat) -> std::io::Result<()> {
    writeln!(out, "cZxid = {:#x}", s.czxid)?;
    writeln!(out, "ctime = {}", java_date(s.ctime))?;
    writeln!(out, "mZxid = {:#x}", s.mzxid)?;
    writeln!(out, "mtime = {}", java_date(s.mtime))?;
    writeln!(out, "pZxid = {:#x}", s.pzxid)?;
    writeln!(out, "cversion = {}", s.cversion)?;
    writeln!(out, "dataVersion = {}", s.version)?;
    writeln!(out, "aclVersion = {}", s.aversion)?;
    writeln!(out, "ephemeralOwner = {:#x}", s.ephemeral_owner)?;
    writeln!(out, "dataLength = {}", s.data_length)?;
    writeln!(out, "numChildren = {}", s.num_children)
}

/// `java.util.Date.toString()` in UTC: "Sun Nov 22 04:50:00 UTC 2026".
fn java_date(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{} {} {day:02} {:02}:{:02}:{:02} UTC {year}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn java_date_matches_java() {
        assert_eq!(super::java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(super::java_date(1_700_000_000_000), "Tue Nov 14 22:13:20 UTC 2023");
    }
}
