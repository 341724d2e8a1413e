//! `kafka-rs top` the way a person uses it: in a real terminal (tmux, with a
//! private server per test), against a broker process, reading the screen
//! after producing, after a group falls behind, after a resize, after the
//! broker dies, and checking the shell is usable after quitting. Plus the
//! `--once` text and JSON snapshots scripts read.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::broker_support::Broker;
use crate::cli_topics::create_topic;
use crate::support::{self, kafka_rs, stderr, stdout};

const WAIT: Duration = Duration::from_secs(30);
const OVERRIDES: &[&str] =
    &["offsets.topic.replication.factor=1", "group.initial.rebalance.delay.ms=0"];

/// A tmux server of our own (`-L`), killed with everything in it on drop.
struct Tmux {
    tmux: PathBuf,
    socket: String,
}

impl Tmux {
    /// A detached session running `command` in a `width`×`height` window,
    /// or `None` (skip) when tmux is not installed.
    fn start(name: &str, width: u16, height: u16, command: &str) -> Option<Tmux> {
        let tmux = support::external_tool("tmux")?;
        let t = Tmux { tmux, socket: format!("kafka-rs-{name}-{}", std::process::id()) };
        let (w, h) = (width.to_string(), height.to_string());
        t.run(&["new-session", "-d", "-x", &w, "-y", &h, command]);
        Some(t)
    }

    fn run(&self, args: &[&str]) -> String {
        let out = support::run_with_timeout(
            Command::new(&self.tmux).arg("-L").arg(&self.socket).args(args),
            None,
            Duration::from_secs(10),
        );
        assert!(out.status.success(), "tmux {args:?}: {}", stderr(&out));
        stdout(&out)
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Text typed literally, then Enter.
    fn type_line(&self, line: &str) {
        self.run(&["send-keys", "-l", line]);
        self.keys(&["Enter"]);
    }

    /// Resizes the window and waits for top to redraw the whole screen at
    /// the new size (title on top, key help on the last line) with `also`.
    fn resize_and_wait(&self, w: u16, h: usize, also: impl Fn(&str) -> bool) {
        self.run(&["resize-window", "-x", &w.to_string(), "-y", &h.to_string()]);
        self.wait_for(&format!("a redraw at {w}x{h}"), |s| {
            let lines: Vec<&str> = s.lines().collect();
            lines.len() == h
                && lines[h - 1].starts_with("q quit")
                && lines[0].starts_with("kafka-rs top")
                && lines.iter().filter(|l| l.starts_with("kafka-rs top")).count() == 1
                && also(s)
        });
    }

    /// Polls the screen until `cond` holds; returns that screen.
    fn wait_for(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let s = self.screen();
            if cond(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; screen:\n{s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new(&self.tmux).arg("-L").arg(&self.socket).arg("kill-server").status();
    }
}

fn top_command(broker: &Broker, extra: &str) -> String {
    top_command_for(&broker.addr(), extra)
}

fn top_command_for(bootstrap: &str, extra: &str) -> String {
    format!(
        "{} top --bootstrap-server {bootstrap} --interval 0.5 {extra}",
        support::bin().display()
    )
}

fn produce(broker: &Broker, topic: &str, count: usize) {
    let input: String = (0..count).map(|i| format!("record-{i}\n")).collect();
    let out = kafka_rs(
        &["console-producer", "--bootstrap-server", &broker.addr(), "--topic", topic],
        Some(input.as_bytes()),
        WAIT,
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A console-producer fed one line every 20 ms from another thread.
struct Trickle {
    child: support::ChildGuard,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    writer: std::thread::JoinHandle<usize>,
}

impl Trickle {
    fn start(broker: &Broker, topic: &str) -> Trickle {
        let mut cmd = Command::new(support::bin());
        cmd.args(["console-producer", "--bootstrap-server", &broker.addr(), "--topic", topic])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = support::ChildGuard::spawn("console-producer", &mut cmd);
        let mut stdin = child.child.as_mut().unwrap().stdin.take().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let mut sent = 0;
            // Bounded, so the 500 of the test are never exceeded.
            while !flag.load(std::sync::atomic::Ordering::SeqCst) && sent < 400 {
                if writeln!(stdin, "trickle-{sent}").and_then(|_| stdin.flush()).is_err() {
                    break;
                }
                sent += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            sent
        });
        Trickle { child, stop, writer }
    }

    /// Stops writing, lets the producer flush and exit; returns the lines sent.
    fn stop(mut self) -> usize {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let sent = self.writer.join().unwrap();
        let c = self.child.child.as_mut().unwrap();
        let deadline = Instant::now() + WAIT;
        while c.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "console-producer did not exit at end of input");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(c.try_wait().unwrap().unwrap().success());
        sent
    }
}

/// Reads `count` records as `group` (which commits them) and leaves.
fn consume(broker: &Broker, topic: &str, group: &str, count: usize) {
    let n = count.to_string();
    let out = kafka_rs(
        &[
            "console-consumer",
            "--bootstrap-server",
            &broker.addr(),
            "--topic",
            topic,
            "--group",
            group,
            "--from-beginning",
            "--max-messages",
            &n,
        ],
        None,
        WAIT,
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The cells of the first screen line whose first cell is `name`.
fn row<'a>(screen: &'a str, name: &str) -> Option<Vec<&'a str>> {
    screen
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&name))
}

/// The value under `header` in the row named `name`, for tables whose
/// cells hold no spaces (topics, groups).
fn cell<'a>(screen: &'a str, header: &str, name: &str) -> Option<&'a str> {
    let headers: Vec<&str> = screen
        .lines()
        .find(|l| l.split_whitespace().any(|h| h == header))?
        .split_whitespace()
        .collect();
    let at = headers.iter().position(|h| *h == header)?;
    row(screen, name)?.get(at).copied()
}

#[test]
fn top_follows_produce_lag_and_resize() {
    let broker = Broker::start(OVERRIDES);
    create_topic(&broker, "orders", "1");
    let Some(tmux) = Tmux::start("live", 160, 48, &top_command(&broker, "")) else { return };

    let s = tmux.wait_for("the orders topic with no records", |s| {
        cell(s, "RECORDS", "orders") == Some("0")
    });
    assert!(s.contains("[2 Topics]"), "the topics pane is first:\n{s}");

    // A steady trickle, so a rate is on screen whenever the test looks.
    let trickle = Trickle::start(&broker, "orders");
    tmux.wait_for("records in per second above zero while producing", |s| {
        cell(s, "RECORDS-IN/S", "orders")
            .and_then(|r| r.parse::<f64>().ok())
            .is_some_and(|r| r > 0.0)
    });
    let sent = trickle.stop();
    produce(&broker, "orders", 500 - sent);
    tmux.wait_for("500 records in orders", |s| cell(s, "RECORDS", "orders") == Some("500"));

    // A group that read 200 of the 500 is 300 behind.
    consume(&broker, "orders", "slow-readers", 200);
    tmux.keys(&["4"]);
    let s = tmux.wait_for("the group's lag", |s| cell(s, "LAG", "slow-readers") == Some("300"));
    assert!(s.contains("[4 Groups]"), "4 switches to groups:\n{s}");
    assert!(s.contains("GROUP slow-readers"), "the selected group's partitions:\n{s}");
    produce(&broker, "orders", 100);
    // The trend's bars span the rise from 300 to 400.
    tmux.wait_for("the lag growing with new records, shown in the trend", |s| {
        cell(s, "LAG", "slow-readers") == Some("400")
            && cell(s, "TREND", "slow-readers").is_some_and(|t| t.contains('▁') && t.contains('█'))
    });

    // Enter on a topic opens its partitions with leader, replicas, ISR and offsets.
    tmux.keys(&["2"]);
    tmux.wait_for("the topics pane", |s| s.contains("[2 Topics]"));
    tmux.keys(&["/"]);
    tmux.run(&["send-keys", "-l", "^ord"]);
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for("the filter applied", |s| s.contains("filter: /^ord/"));
    assert!(row(&s, "__consumer_offsets").is_none(), "the filter hides other topics:\n{s}");
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for("partitions of orders", |s| s.contains("[3 Partitions of orders]"));
    for h in ["LEADER", "REPLICAS", "ISR", "LOG-START-OFFSET", "HIGH-WATERMARK"] {
        assert!(s.contains(h), "{h} column:\n{s}");
    }
    let hw: i64 = s
        .lines()
        .filter_map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            (c.first() == Some(&"orders")).then(|| c[8].parse::<i64>().unwrap())
        })
        .sum();
    assert_eq!(hw, 600, "high watermarks add up to what was produced:\n{s}");

    // Paused, only the resize itself can redraw: the status line must
    // move to the new bottom row.
    tmux.keys(&["p"]);
    tmux.wait_for("paused", |s| s.contains("[PAUSED]"));
    for (w, h) in [(90u16, 20usize), (200, 60)] {
        tmux.resize_and_wait(w, h, |_| true);
    }
    tmux.keys(&["q"]);
}

#[test]
fn top_shows_a_dead_broker_and_keeps_running() {
    let broker = Broker::start(OVERRIDES);
    create_topic(&broker, "events", "1");
    let Some(tmux) = Tmux::start("dead", 160, 48, &top_command(&broker, "")) else { return };
    tmux.keys(&["1"]);
    let s = tmux.wait_for("the broker up", |s| s.contains("[1 Brokers]") && s.contains(" up "));
    assert!(s.contains(&broker.addr()), "{s}");

    let _dir = broker.kill9();
    let s = tmux.wait_for("the broker marked down", |s| {
        s.contains("DOWN") && s.contains("cannot reach the cluster")
    });
    assert!(s.contains("brokers 0/1 up"), "{s}");
    // Still alive and answering keys.
    tmux.keys(&["2"]);
    tmux.wait_for("the topics pane after the broker died", |s| {
        s.contains("[2 Topics]") && row(s, "events").is_some()
    });
    tmux.keys(&["q"]);
}

/// Whether `pid` has exited (gone, or a zombie nobody reaped yet).
fn exited(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

/// A terminal that goes away (its tmux server killed: SIGHUP, then a
/// hung-up tty) must not leave top running; nor may SIGTERM be ignored.
#[test]
fn top_exits_when_its_terminal_goes_away_or_on_sigterm() {
    let broker = Broker::start(OVERRIDES);
    for how in ["hangup", "sigterm"] {
        let Some(tmux) = Tmux::start(how, 120, 40, &top_command(&broker, "")) else { return };
        tmux.wait_for("top's first screen", |s| s.contains("kafka-rs top"));
        let pid = tmux.run(&["display-message", "-p", "#{pane_pid}"]).trim().to_string();
        assert!(!exited(&pid), "{how}: top runs as the pane's process");
        if how == "hangup" {
            drop(tmux);
        } else {
            let out = support::run_with_timeout(
                Command::new("kill").args(["-TERM", &pid]),
                None,
                Duration::from_secs(10),
            );
            assert!(out.status.success(), "{}", stderr(&out));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !exited(&pid) {
            if Instant::now() > deadline {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
                panic!("{how}: top (pid {pid}) still running 10 s later");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Runs top from a shell and quits it with `quit_keys`; the terminal
/// settings must be those from before and typed text must echo.
fn quit_leaves_terminal_usable(name: &str, quit_keys: &str) {
    let broker = Broker::start(OVERRIDES);
    top_in_a_shell(name, (120, 30), &top_command(&broker, ""), |_| {}, quit_keys);
}

/// Types `top` at a shell prompt in a `size` window, runs `during` while it
/// shows, quits with `quit_keys`, then checks the terminal is as before.
fn top_in_a_shell(
    name: &str,
    size: (u16, u16),
    top: &str,
    during: impl FnOnce(&Tmux),
    quit_keys: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    let before = dir.path().join("stty-before");
    let shell = "env PS1='ready> ' bash --norc --noprofile";
    let Some(tmux) = Tmux::start(name, size.0, size.1, shell) else { return };
    tmux.wait_for("the prompt", |s| s.contains("ready>"));
    tmux.type_line(&format!("stty -g > {}", before.display()));
    tmux.type_line(top);
    tmux.wait_for("top on screen", |s| s.contains("RECORDS-IN/S"));
    during(&tmux);
    tmux.keys(&[quit_keys]);
    let s = tmux.wait_for("the shell back on the main screen", |s| !s.contains("RECORDS-IN/S"));
    assert!(!s.contains("kafka-rs top  "), "the alternate screen is gone:\n{s}");
    tmux.type_line(&format!(
        "stty -g | cmp -s - {} && echo SAME-$((40+2)) || echo CHANGED",
        before.display()
    ));
    let s = tmux.wait_for("the settings check", |s| {
        s.lines().any(|l| l.trim_end() == "SAME-42" || l.trim_end() == "CHANGED")
    });
    assert!(
        s.lines().any(|l| l.trim_end() == "SAME-42"),
        "terminal settings after quitting differ:\n{s}"
    );
    assert!(
        s.contains("echo SAME-$((40+2))"),
        "what was typed is echoed (the command line shows):\n{s}"
    );
}

#[test]
fn top_quit_with_q_restores_the_terminal() {
    quit_leaves_terminal_usable("quit-q", "q");
}

#[test]
fn top_quit_with_ctrl_c_restores_the_terminal() {
    quit_leaves_terminal_usable("quit-ctrl-c", "C-c");
}

#[test]
fn top_once_prints_text_and_json() {
    let broker = Broker::start(OVERRIDES);
    create_topic(&broker, "clicks", "2");
    produce(&broker, "clicks", 40);
    consume(&broker, "clicks", "analytics", 10);
    let b = broker.addr();

    let out =
        kafka_rs(&["top", "--bootstrap-server", &b, "--once", "--interval", "0.2"], None, WAIT);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for section in ["BROKERS", "TOPICS", "PARTITIONS", "GROUPS", "GROUP analytics"] {
        assert!(text.lines().any(|l| l == section), "{section} section:\n{text}");
    }
    assert_eq!(cell(&text, "RECORDS", "clicks"), Some("40"), "{text}");
    assert_eq!(cell(&text, "LAG", "analytics"), Some("30"), "{text}");

    // Not a terminal: one snapshot even without --once (the pipe here).
    let out = kafka_rs(&["top", "--bootstrap-server", &b, "--interval", "0.2"], None, WAIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("\nTOPICS\n"), "{}", stdout(&out));

    let out = kafka_rs(
        &["top", "--bootstrap-server", &b, "--once", "--interval", "0.2", "--output", "json"],
        None,
        WAIT,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("top --output json is JSON");
    assert_eq!(v["reachable"], true);
    let brokers = v["brokers"].as_array().unwrap();
    assert_eq!(brokers.len(), 1, "{v}");
    assert_eq!(brokers[0]["up"], true);
    assert_eq!(brokers[0]["port"], broker.port as i64);
    let topic = v["topics"].as_array().unwrap().iter().find(|t| t["name"] == "clicks").unwrap();
    assert_eq!(topic["partitions"], 2);
    assert_eq!(topic["records"], 40);
    assert!(topic["records_in_per_sec"].is_number(), "a rate after two samples: {topic}");
    let parts: Vec<_> =
        v["partitions"].as_array().unwrap().iter().filter(|p| p["topic"] == "clicks").collect();
    assert_eq!(parts.len(), 2);
    let hw: i64 = parts.iter().map(|p| p["high_watermark"].as_i64().unwrap()).sum();
    assert_eq!(hw, 40);
    let group =
        v["groups"].as_array().unwrap().iter().find(|g| g["group_id"] == "analytics").unwrap();
    assert_eq!(group["lag"], 30, "{group}");
    assert_eq!(group["state"], "Empty");

    // Nobody there: an error and a failing exit status, not a hang.
    drop(broker);
    let out = kafka_rs(&["top", "--bootstrap-server", &b, "--once"], None, WAIT);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot reach the cluster"), "{}", stderr(&out));
}

/// The brokers pane's rows by id: (status, controller, leaders).
fn broker_rows(screen: &str) -> Vec<(String, String, u32)> {
    (1..=3)
        .filter_map(|id| {
            let cells = row(screen, &id.to_string())?;
            Some((
                cells.get(3)?.to_string(),
                cells.get(4)?.to_string(),
                cells.get(5)?.parse().ok()?,
            ))
        })
        .collect()
}

/// The screen line whose first cell is `name`, with its colours
/// (`capture-pane -e`).
fn coloured_line(tmux: &Tmux, name: &str) -> Option<String> {
    tmux.run(&["capture-pane", "-p", "-e"])
        .lines()
        .find(|l| {
            let plain: String = strip_sgr(l);
            plain.split_whitespace().next() == Some(name)
        })
        .map(str::to_string)
}

/// Whether a captured line sets a yellow foreground, however tmux spells it.
fn yellow(line: &str) -> bool {
    ["\x1b[33m", "\x1b[93m", "38;5;11m", "38;5;3m"].iter().any(|y| line.contains(y))
}

fn strip_sgr(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Three brokers: the brokers pane shows them all, the controller and
/// the leader counts; a broker killed with -9 shows DOWN and its
/// partitions under-replicated in yellow while top keeps running; its
/// restart brings the view back; a resize redraws; quitting leaves the
/// shell's terminal as it was.
#[test]
fn top_on_three_brokers_follows_a_broker_dying_and_returning() {
    let mut cluster = crate::replication::Cluster::start(&[]);
    cluster.topics(&[
        "--create",
        "--topic",
        "events",
        "--partitions",
        "3",
        "--replication-factor",
        "3",
    ]);
    let top = top_command_for(&cluster.bootstrap(), "");
    top_in_a_shell(
        "three",
        (160, 48),
        &top,
        |tmux| {
            tmux.keys(&["1"]);
            let s = tmux.wait_for("three brokers up, one controller, every partition led", |s| {
                let rows = broker_rows(s);
                rows.len() == 3
                    && rows.iter().all(|r| r.0 == "up")
                    && rows.iter().filter(|r| r.1 == "yes").count() == 1
                    && rows.iter().map(|r| r.2).sum::<u32>() == 3
            });
            assert!(s.contains("[1 Brokers]") && s.contains("brokers 3/3 up"), "{s}");
            let rows = broker_rows(&s);
            let victim = (1..=3).find(|&id| rows[id - 1].1 != "yes").unwrap() as i32;

            cluster.kill9(victim);
            let name = victim.to_string();
            let s = tmux.wait_for("the killed broker DOWN", |s| {
                row(s, &name).is_some_and(|r| r.get(3) == Some(&"DOWN"))
                    && s.contains("brokers 2/3 up")
            });
            assert!(s.contains("[1 Brokers]"), "still running, same pane:\n{s}");
            tmux.keys(&["2"]);
            tmux.wait_for("events under-replicated", |s| {
                cell(s, "UNDER-REPLICATED", "events") == Some("3")
            });
            let line = coloured_line(tmux, "events").unwrap_or_default();
            assert!(yellow(&line), "the under-replicated topic is yellow: {line:?}");

            cluster.restart(victim);
            tmux.wait_for("the topic fully replicated again", |s| {
                cell(s, "UNDER-REPLICATED", "events") == Some("0")
            });
            let line = coloured_line(tmux, "events").unwrap_or_default();
            assert!(!yellow(&line), "no longer yellow: {line:?}");
            tmux.keys(&["1"]);
            tmux.wait_for("the broker back up", |s| {
                broker_rows(s).iter().all(|r| r.0 == "up") && s.contains("brokers 3/3 up")
            });

            for (w, h) in [(100u16, 24usize), (180, 50)] {
                tmux.resize_and_wait(w, h, |s| broker_rows(s).len() == 3);
            }
        },
        "q",
    );
}
