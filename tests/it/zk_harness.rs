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
    /// Kept for their Drop: the data dir and the process.
    _dir: tempfile::TempDir,
    _guard: ChildGuard,
    /// Apache ZooKeeper runs one at a time: a JVM per test in parallel
    /// would starve the rest of the suite of CPU.
    _turn: Option<std::sync::MutexGuard<'static, ()>>,
}

static APACHE_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

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
    let mut guard = launch_ours(dir, port, extra);
    assert!(serves(port, &mut guard), "our server on port {port} exited before serving");
    guard
}

fn launch_ours(dir: &Path, port: u16, extra: &str) -> ChildGuard {
    let cfg = dir.join("zoo.cfg");
    std::fs::write(&cfg, config_text(dir, port, extra)).unwrap();
    ChildGuard::spawn(
        "kafka-rs zookeeper-start",
        Command::new(support::bin())
            .arg("zookeeper-start")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(log_file(dir)),
    )
}

/// Waits until the server answers `srvr`; false if it exited first (its
/// port, free when picked, was taken by another test meanwhile).
fn serves(port: u16, guard: &mut ChildGuard) -> bool {
    let mut exited = false;
    support::wait_until(Duration::from_secs(30), "the ZooKeeper server to serve", || {
        exited = guard.try_wait().is_some();
        exited || four_letter(port, "srvr").contains("Mode:")
    });
    !exited
}

/// The server's log, kept in its temp dir (appended across restarts).
fn log_file(dir: &Path) -> Stdio {
    match std::fs::OpenOptions::new().create(true).append(true).open(dir.join("server.log")) {
        Ok(f) => Stdio::from(f),
        Err(_) => Stdio::null(),
    }
}

pub fn start_ours(extra: &str) -> ZkServer {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..3 {
        let port = support::free_port();
        let mut guard = launch_ours(dir.path(), port, extra);
        if serves(port, &mut guard) {
            return ZkServer { kind: "kafka-rs", port, _dir: dir, _guard: guard, _turn: None };
        }
    }
    panic!("our ZooKeeper server did not start in {}", dir.path().display());
}

/// Apache ZooKeeper 3.8 (`ZooKeeperServerMain`), or `None` to skip when the
/// Debian package is missing outside the interop suite.
pub fn start_apache(extra: &str) -> Option<ZkServer> {
    start_apache_with(extra, &[])
}

/// [`start_apache`] with JVM system properties (`-Dkey=value`), which is
/// how Apache ZooKeeper takes some settings our server reads from zoo.cfg.
pub fn start_apache_with(extra: &str, system_properties: &[&str]) -> Option<ZkServer> {
    let java = support::external_tool("java")?;
    if !Path::new(APACHE_JARS).exists() {
        assert!(
            !support::interop_required(),
            "Apache ZooKeeper ({APACHE_JARS}) is required by the interop suite"
        );
        support::skip("Apache ZooKeeper is not installed");
        return None;
    }
    let turn = APACHE_TURN.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..3 {
        let port = support::free_port();
        let cfg = dir.path().join("zoo.cfg");
        std::fs::write(&cfg, config_text(dir.path(), port, extra)).unwrap();
        let mut guard = ChildGuard::spawn(
            "Apache ZooKeeper",
            Command::new(&java)
                .args([
                    "-Xmx256m",
                    "-XX:+UseSerialGC",
                    "-cp",
                    "/etc/zookeeper/conf:/usr/share/java/*",
                ])
                .args(system_properties)
                .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
                .arg(&cfg)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        if serves(port, &mut guard) {
            return Some(ZkServer {
                kind: "Apache ZooKeeper",
                port,
                _dir: dir,
                _guard: guard,
                _turn: Some(turn),
            });
        }
    }
    panic!("Apache ZooKeeper did not start");
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

/// zkCli.sh, or `None` to skip when it is not installed.
pub fn zkcli() -> Option<PathBuf> {
    if Path::new(ZKCLI).exists() && support::which("java").is_some() {
        return Some(PathBuf::from(ZKCLI));
    }
    assert!(!support::interop_required(), "zkCli.sh ({ZKCLI}) is required by the interop suite");
    support::skip("zkCli.sh is not installed");
    None
}

/// A bare-wire ZooKeeper client: exact control over every byte, for the
/// crash, bad-input and session tests.
pub struct Raw {
    pub stream: TcpStream,
    pub session: i64,
    pub password: Vec<u8>,
    pub timeout: i32,
}

pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as i32).to_be_bytes());
    out.extend_from_slice(s);
}

/// `CreateRequest{path, data, [world:anyone ALL], flags}`.
pub fn create_body(path: &str, data: &[u8], flags: i32) -> Vec<u8> {
    create_body_nullable(path, Some(data), flags)
}

/// [`create_body`] where `None` sends null data (length -1), as zkCli's
/// `create /a` without a value does.
pub fn create_body_nullable(path: &str, data: Option<&[u8]>, flags: i32) -> Vec<u8> {
    let mut b = Vec::new();
    string(&mut b, path.as_bytes());
    match data {
        Some(d) => string(&mut b, d),
        None => b.extend_from_slice(&(-1i32).to_be_bytes()),
    }
    b.extend_from_slice(&1i32.to_be_bytes());
    b.extend_from_slice(&31i32.to_be_bytes());
    string(&mut b, b"world");
    string(&mut b, b"anyone");
    b.extend_from_slice(&flags.to_be_bytes());
    b
}

/// `{path, watch}` (exists, getData, getChildren).
pub fn path_body(path: &str, watch: bool) -> Vec<u8> {
    let mut b = Vec::new();
    string(&mut b, path.as_bytes());
    b.push(watch as u8);
    b
}

pub struct Reply {
    pub xid: i32,
    pub zxid: i64,
    pub err: i32,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn connect(port: u16, timeout: i32) -> std::io::Result<Raw> {
        Self::reconnect(port, timeout, 0, &[0; 16], 0)
    }

    /// Sends a ConnectRequest and reads the ConnectResponse.
    pub fn reconnect(
        port: u16,
        timeout: i32,
        session: i64,
        password: &[u8],
        last_zxid: i64,
    ) -> std::io::Result<Raw> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        let mut b = Vec::new();
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(&last_zxid.to_be_bytes());
        b.extend_from_slice(&timeout.to_be_bytes());
        b.extend_from_slice(&session.to_be_bytes());
        string(&mut b, password);
        b.push(0);
        stream.write_all(&frame(&b))?;
        let body = read_frame(&mut stream)?;
        let int = |i: usize| i32::from_be_bytes(body[i..i + 4].try_into().unwrap());
        let timeout = int(4);
        let session = i64::from_be_bytes(body[8..16].try_into().unwrap());
        let len = int(16) as usize;
        let password = body[20..20 + len].to_vec();
        Ok(Raw { stream, session, password, timeout })
    }

    pub fn send(&mut self, xid: i32, op: i32, body: &[u8]) -> std::io::Result<()> {
        let mut b = xid.to_be_bytes().to_vec();
        b.extend_from_slice(&op.to_be_bytes());
        b.extend_from_slice(body);
        self.stream.write_all(&frame(&b))
    }

    pub fn recv(&mut self) -> std::io::Result<Reply> {
        let body = read_frame(&mut self.stream)?;
        if body.len() < 16 {
            return Err(std::io::Error::other("short reply"));
        }
        Ok(Reply {
            xid: i32::from_be_bytes(body[0..4].try_into().unwrap()),
            zxid: i64::from_be_bytes(body[4..12].try_into().unwrap()),
            err: i32::from_be_bytes(body[12..16].try_into().unwrap()),
            body: body[16..].to_vec(),
        })
    }

    /// One request and its reply, skipping watch notifications.
    pub fn call(&mut self, xid: i32, op: i32, body: &[u8]) -> std::io::Result<Reply> {
        self.send(xid, op, body)?;
        loop {
            let r = self.recv()?;
            if r.xid != -1 {
                return Ok(r);
            }
        }
    }

    /// Whether the server has closed this connection (EOF within 10 s).
    pub fn is_closed(&mut self) -> bool {
        let _ = self.stream.set_read_timeout(Some(Duration::from_secs(10)));
        let mut buf = [0u8; 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) => {
                    return e.kind() != std::io::ErrorKind::WouldBlock
                        && e.kind() != std::io::ErrorKind::TimedOut
                }
            }
        }
    }
}

pub fn read_frame(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let n = i32::from_be_bytes(len);
    if !(0..=16 << 20).contains(&n) {
        return Err(std::io::Error::other(format!("bad frame length {n}")));
    }
    let mut body = vec![0u8; n as usize];
    s.read_exact(&mut body)?;
    Ok(body)
}

/// A process's resident memory in bytes (`VmRSS` in /proc/PID/status).
pub fn vm_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
