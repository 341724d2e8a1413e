//! Starting ZooKeeper servers for the zk_* tests: ours (`kafka-rs
//! zookeeper-start`) and Apache ZooKeeper 3.8 from the Debian package, each
//! on a free port with a temp data dir, and four-letter words to probe them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{self, ChildGuard};

/// Where Debian puts ZooKeeper's jars and scripts.
const APACHE_JARS: &str = "/usr/share/java/zookeeper.jar";
const ZKCLI: &str = "/usr/share/zookeeper/bin/zkCli.sh";

pub struct ZkServer {
    pub kind: &'static str,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub guard: ChildGuard,
}

impl ZkServer {
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// The zoo.cfg both servers get: same tick, so timeouts negotiate alike.
pub fn config_text(dir: &Path, port: u16, extra: &str) -> String {
    format!(
        "dataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\ntickTime=500\n\
         4lw.commands.whitelist=*\nadmin.enableServer=false\nmaxClientCnxns=0\n{extra}\n",
        dir.display()
    )
}

/// Starts `kafka-rs zookeeper-start` on `dir` and waits until it serves.
pub fn spawn_ours(dir: &Path, port: u16, extra: &str) -> ChildGuard {
    let cfg = dir.join("zoo.cfg");
    std::fs::write(&cfg, config_text(dir, port, extra)).unwrap();
    let guard = ChildGuard::spawn(
        "kafka-rs zookeeper-start",
        Command::new(support::bin())
            .arg("zookeeper-start")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_ready(port);
    guard
}

pub fn start_ours(extra: &str) -> ZkServer {
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let guard = spawn_ours(dir.path(), port, extra);
    ZkServer { kind: "kafka-rs", port, dir, guard }
}

/// Apache ZooKeeper 3.8 (`ZooKeeperServerMain`), or `None` to skip when the
/// Debian package is missing outside the interop suite.
pub fn start_apache(extra: &str) -> Option<ZkServer> {
    let java = support::external_tool("java")?;
    if !Path::new(APACHE_JARS).exists() {
        assert!(
            !support::interop_required(),
            "Apache ZooKeeper ({APACHE_JARS}) is required by the interop suite"
        );
        eprintln!("skipping: Apache ZooKeeper is not installed");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(&cfg, config_text(dir.path(), port, extra)).unwrap();
    let guard = ChildGuard::spawn(
        "Apache ZooKeeper",
        Command::new(java)
            .args(["-Xmx256m", "-XX:+UseSerialGC", "-cp", "/etc/zookeeper/conf:/usr/share/java/*"])
            .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_ready(port);
    Some(ZkServer { kind: "Apache ZooKeeper", port, dir, guard })
}

/// Sends a four-letter word and returns the whole answer.
pub fn four_letter(port: u16, word: &str) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return String::new() };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(word.as_bytes()).is_err() {
        return String::new();
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

pub fn wait_ready(port: u16) {
    support::wait_until(Duration::from_secs(30), "the ZooKeeper server to serve", || {
        four_letter(port, "srvr").contains("Mode:")
    });
}

/// zkCli.sh, or `None` to skip when it is not installed.
pub fn zkcli() -> Option<PathBuf> {
    if Path::new(ZKCLI).exists() && support::which("java").is_some() {
        return Some(PathBuf::from(ZKCLI));
    }
    assert!(!support::interop_required(), "zkCli.sh ({ZKCLI}) is required by the interop suite");
    eprintln!("skipping: zkCli.sh is not installed");
    None
}
