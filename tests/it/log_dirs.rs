//! Log dirs under hostile or faulty conditions (issue 17): unusable
//! `log.dirs` at start-up, topic names too long for a derived file name,
//! invalid topic names written straight into ZooKeeper, a full disk.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{self, stderr};

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Runs `cmd`, panicking with its output unless it succeeds.
fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Undoes a mount or an attribute when dropped, so a failing test leaves
/// nothing behind.
struct Undo(Vec<Command>);

impl Drop for Undo {
    fn drop(&mut self) {
        for cmd in &mut self.0 {
            let _ = cmd.output();
        }
    }
}

fn command(program: &str, args: &[&str], path: &Path) -> Command {
    let mut c = Command::new(program);
    c.args(args).arg(path);
    c
}

/// `server-start` on `log_dir`: must exit 1 at once with one line naming the
/// directory and the OS error, without binding its port.
fn assert_refused(log_dir: &Path, os_error: &str) {
    let port = support::free_port();
    let logs = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = Command::new(support::bin())
        .args(["server-start", "--override", &format!("listeners=PLAINTEXT://127.0.0.1:{port}")])
        .arg("--override")
        .arg(format!("log.dirs={}", log_dir.display()))
        .args(["--override", "embedded.zookeeper.port=0"])
        .env("LOG_DIR", logs.path())
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{}: {err}", log_dir.display());
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&format!("data directory {}", log_dir.display())) && err.contains(os_error),
        "names the dir and the OS error ({os_error}): {err}"
    );
    assert!(elapsed < Duration::from_secs(5), "at once, not after a timeout: {elapsed:?}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "nothing bound");
}

#[test]
fn r17_unusable_log_dir_is_named_at_once_before_binding() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    assert_refused(&file, "os error 20");
    assert_refused(&file.join("below"), "os error 20");
    if !is_root() {
        let ro = root.path().join("read-only");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
        assert_refused(&ro, "os error 13");
        return;
    }
    // Root ignores permission bits: an immutable dir and a read-only mount.
    let immutable = root.path().join("immutable");
    std::fs::create_dir(&immutable).unwrap();
    if command("chattr", &["+i"], &immutable).output().is_ok_and(|o| o.status.success()) {
        let _undo = Undo(vec![command("chattr", &["-i"], &immutable)]);
        assert_refused(&immutable, "os error 1");
    }
    let ro = root.path().join("ro-mount");
    std::fs::create_dir(&ro).unwrap();
    run_ok(&mut command("mount", &["--bind"], &ro).arg(&ro));
    let _undo = Undo(vec![command("umount", &[], &ro)]);
    run_ok(&mut command("mount", &["-o", "remount,bind,ro"], &ro));
    assert_refused(&ro, "os error 30");
}
