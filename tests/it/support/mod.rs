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

/// How long a timed-out child has, after SIGABRT, to write where it is
/// before the SIGKILL.
const ABORT_GRACE: Duration = Duration::from_secs(3);

/// Runs `cmd` to completion, or kills it with its process group after
/// `timeout`. A hang then reports where it hung: the group gets SIGABRT
/// first, on which CPython (told by `PYTHONFAULTHANDLER`) writes every
/// thread's traceback to the stderr returned here, and only then SIGKILL.
pub fn run_with_timeout(cmd: &mut Command, stdin: Option<&[u8]>, timeout: Duration) -> Output {
    use std::os::unix::process::CommandExt;
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("PYTHONFAULTHANDLER", "1");
    // Its own process group, so a timeout kills what it started too: a
    // grandchild left holding the stdout pipe would otherwise keep
    // `wait_with_output` (and the test) waiting past the timeout.
    cmd.process_group(0);
    // An aborted child must not leave a core in the test's cwd (where the
    // default core_pattern puts it) for every timeout: a broker's core is
    // large, and a flaky test run in a loop would fill the disk. The hard
    // limit goes to 0 too, so no child turns cores back on.
    // SAFETY: between fork and exec only async-signal-safe calls are
    // allowed; setrlimit is a plain system call, and the closure neither
    // allocates nor takes a lock.
    unsafe {
        cmd.pre_exec(|| {
            let none = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            if libc::setrlimit(libc::RLIMIT_CORE, &none) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if let Some(input) = stdin {
        let mut w = child.stdin.take().unwrap();
        let input = input.to_vec();
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = w.write_all(&input);
        });
    }
    let group = format!("-{}", child.id());
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let killer = std::thread::spawn(move || {
        if finished.recv_timeout(timeout).is_ok() {
            return false;
        }
        signal_group(&group, "ABRT");
        // Done as soon as the child and every holder of its pipes are gone;
        // whatever ignores SIGABRT or is slow to die gets SIGKILL anyway.
        let _ = finished.recv_timeout(ABORT_GRACE);
        signal_group(&group, "KILL");
        true
    });
    let mut out = child.wait_with_output().expect("wait for child");
    let _ = done.send(());
    if killer.join().unwrap_or(false) {
        out.stderr.extend_from_slice(
            format!("\n[killed with its process group after {timeout:?}]\n").as_bytes(),
        );
    }
    out
}

/// `kill -<signal> -- <group>`, quiet when the group is already gone.
fn signal_group(group: &str, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", group])
        .stderr(Stdio::null())
        .status();
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

/// Runs `cmd` until `timeout` kills it: its output, the signal it died of,
/// and how long that took.
fn hang(cmd: &mut Command, timeout: Duration) -> (Output, Option<i32>, Duration) {
    use std::os::unix::process::ExitStatusExt;
    let started = Instant::now();
    let out = run_with_timeout(cmd, None, timeout);
    let signal = out.status.signal();
    (out, signal, started.elapsed())
}

#[test]
fn a_hung_python_child_tells_where_it_hung() {
    let Some(python) = python() else { return };
    let script = "import time\n\ndef hang_here_for_the_test():\n    time.sleep(60)\n\nhang_here_for_the_test()\n";
    let (out, signal, took) =
        hang(Command::new(python).args(["-c", script]), Duration::from_secs(2));
    let err = stderr(&out);
    assert!(err.contains("in hang_here_for_the_test"), "no traceback in:\n{err}");
    assert!(err.contains("[killed with its process group after 2s]"), "{err}");
    // The dump came from the SIGABRT, not from a SIGKILL that found it dead.
    assert_eq!(signal, Some(libc::SIGABRT), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn a_timed_out_child_dies_of_the_abort_without_a_core() {
    // The child tries to turn cores back on, as a test's own shell may
    // have them on already: the hard limit of 0 must stop it.
    let script = "ulimit -c unlimited 2>/dev/null; ulimit -c; exec sleep 60";
    let timeout = Duration::from_secs(1);
    let (out, signal, took) = hang(Command::new("sh").args(["-c", script]), timeout);
    assert_eq!(stdout(&out).trim(), "0", "core files stay off");
    assert_eq!(signal, Some(libc::SIGABRT));
    // The grace after SIGABRT ends when the child does, not when it runs out.
    assert!(took < timeout + ABORT_GRACE, "took {took:?}");
    assert!(stderr(&out).contains("killed with its process group"), "{}", stderr(&out));
}

#[test]
fn a_timed_out_child_deaf_to_sigabrt_still_gets_sigkill() {
    // An ignored signal stays ignored across exec, so `sleep` ignores it too.
    let script = "trap '' ABRT; exec sleep 60";
    let timeout = Duration::from_secs(1);
    let (_, signal, took) = hang(Command::new("sh").args(["-c", script]), timeout);
    assert_eq!(signal, Some(libc::SIGKILL));
    assert!(took >= timeout + ABORT_GRACE, "SIGKILL came before the grace ran out: {took:?}");
    assert!(took < timeout + ABORT_GRACE + Duration::from_secs(5), "took {took:?}");
}
