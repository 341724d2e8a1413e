//! Helpers shared by the integration tests: free ports, child processes that
//! die with the test, bounded waits, and gating for third-party clients.
#![allow(dead_code)] // each test module uses a different subset

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kafka-rs"))
}

/// The repository root (for bin/ and config/).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A port nobody listens on right now. The kernel picks it; we release it
/// and hand it to the child, which is the best a separate process can do.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn wait_for_port(port: u16, timeout: Duration) {
    wait_until(timeout, &format!("127.0.0.1:{port} to accept"), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

/// A child process killed (SIGKILL) and reaped when dropped, so a failing
/// test never leaves a broker behind.
pub struct ChildGuard {
    pub child: Option<Child>,
    pub name: String,
}

impl ChildGuard {
    pub fn spawn(name: &str, cmd: &mut Command) -> Self {
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self { child: Some(child), name: name.to_string() }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("child already reaped").id()
    }

    /// SIGKILL, as `kill -9` in the quickstart's failover step.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait up to `timeout` for a clean exit; returns its status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!("{} did not exit within {timeout:?} of SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the process has exited, with its status.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Everything it wrote to a piped stderr so far (after it exited).
    pub fn stderr_text(&mut self) -> String {
        let mut s = String::new();
        if let Some(err) = self.child.as_mut().and_then(|c| c.stderr.as_mut()) {
            let _ = err.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs `kafka-rs <args>` to completion with a timeout.
pub fn kafka_rs(args: &[&str], stdin: Option<&[u8]>, timeout: Duration) -> Output {
    run_with_timeout(Command::new(bin()).args(args), stdin, timeout)
}

pub fn run_with_timeout(cmd: &mut Command, stdin: Option<&[u8]>, timeout: Duration) -> Output {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, so a timeout kills what it started too: a
    // grandchild left holding the stdout pipe would otherwise keep
    // `wait_with_output` (and the test) waiting past the timeout.
    std::os::unix::process::CommandExt::process_group(cmd, 0);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if let Some(input) = stdin {
        let mut w = child.stdin.take().unwrap();
        let input = input.to_vec();
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = w.write_all(&input);
        });
    }
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    let killer = std::thread::spawn(move || {
        let timed_out = rx.recv_timeout(timeout).is_err();
        if timed_out {
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
        }
        timed_out
    });
    let mut out = child.wait_with_output().expect("wait for child");
    let _ = tx.send(());
    if killer.join().unwrap_or(false) {
        out.stderr.extend_from_slice(
            format!("\n[killed with its process group after {timeout:?}]\n").as_bytes(),
        );
    }
    out
}

/// Whether the full suite (scripts/test-all.sh) is running: then every
/// third-party client must be present and a missing one fails the test.
pub fn interop_required() -> bool {
    std::env::var("KAFKA_RS_INTEROP").is_ok_and(|v| v == "1")
}

/// Skips (the caller returns) with `why` on the run's real stderr, past
/// the test harness's capture that hides a passing test's output, and
/// counts: a green run then still shows how many checks did not run.
pub fn skip(why: &str) {
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};
    static SKIPPED: AtomicUsize = AtomicUsize::new(0);
    let n = SKIPPED.fetch_add(1, Ordering::Relaxed) + 1;
    let test = std::thread::current().name().unwrap_or("?").to_string();
    let line = format!("SKIPPED ({n} so far in this run) {test}: {why}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Returns the path of an external tool, `None` to skip (hermetic `cargo
/// test` on a machine without it), or panics when the full suite needs it.
pub fn external_tool(name: &str) -> Option<PathBuf> {
    let found = which(name);
    if found.is_none() {
        if interop_required() {
            panic!("{name} is required by the interop suite but not installed (scripts/test-all.sh installs it)");
        }
        skip(&format!("{name} not installed (run scripts/test-all.sh for the interop suite)"));
    }
    found
}

/// The venv python with confluent-kafka, kafka-python and kazoo, as
/// scripts/test-all.sh sets it up.
pub fn python() -> Option<PathBuf> {
    match std::env::var_os("KAFKA_RS_PYTHON").map(PathBuf::from) {
        Some(p) if p.exists() => Some(p),
        _ => {
            let venv = repo().join("target/test-venv/bin/python");
            if venv.exists() {
                return Some(venv);
            }
            if interop_required() {
                panic!("the interop suite needs KAFKA_RS_PYTHON (scripts/test-all.sh sets it)");
            }
            skip("no python venv with the Kafka clients (run scripts/test-all.sh)");
            None
        }
    }
}

pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_timeout_kills_what_the_command_started() {
    // The shell exits at once; the `sleep` it left behind holds stdout.
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "sleep 600 & echo started"]);
    let out = run_with_timeout(&mut cmd, None, Duration::from_secs(1));
    assert_eq!(stdout(&out).trim(), "started");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("killed with its process group"), "{err}");
}
