//! Kafka Connect through bin/connect-standalone.sh and
//! bin/connect-distributed.sh against a broker process: Kafka's quickstart
//! step, a kill -9 mid-stream, the REST API through Python's urllib, and
//! two distributed workers sharing a connector when one dies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::broker_support::Broker;
use crate::cli_topics::{create_topic, ok, script};
use crate::support::*;

/// A Connect worker started through its bin/ script in `dir`.
struct Worker {
    child: ChildGuard,
    port: u16,
    log: PathBuf,
}

impl Worker {
    fn start(dir: &Path, script_name: &str, args: &[&str], port: u16, log_name: &str) -> Worker {
        let log = dir.join(log_name);
        let err = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let mut cmd = Command::new(repo().join("bin").join(script_name));
        cmd.args(args)
            .current_dir(dir)
            .env("KAFKA_RS_BIN", bin())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err);
        let child = ChildGuard::spawn(script_name, &mut cmd);
        let w = Worker { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "worker REST port never opened:\n{}", w.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
        w
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A Python able to run `urllib` (the venv's, else the system's).
fn http_python() -> Option<PathBuf> {
    std::env::var_os("KAFKA_RS_PYTHON")
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .or_else(|| Some(repo().join("target/test-venv/bin/python")).filter(|p| p.exists()))
        .or_else(|| which("python3"))
}

const HTTP: &str = r#"
import sys, urllib.request, urllib.error
method, url = sys.argv[1], sys.argv[2]
data = sys.argv[3].encode() if len(sys.argv) > 3 else None
req = urllib.request.Request(url, data=data, method=method,
        headers={"Content-Type": "application/json", "Accept": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=30) as r:
        status, body = r.status, r.read().decode()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read().decode()
print(status)
print(body)
"#;

/// One request through Python's urllib: the status and the JSON body
/// (`Null` when empty).
fn http(py: &Path, method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    let mut cmd = Command::new(py);
    cmd.arg("-c").arg(HTTP).arg(method).arg(url);
    if let Some(b) = body {
        cmd.arg(b.to_string());
    }
    let out = run_with_timeout(&mut cmd, None, Duration::from_secs(40));
    let text = stdout(&out);
    let (status, body) =
        text.split_once('\n').unwrap_or_else(|| panic!("no answer: {text} {}", stderr(&out)));
    let status: u16 = status.trim().parse().unwrap();
    let body = body.trim();
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    };
    (status, json)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Kafka's config file with some keys replaced (and the rest kept as is).
fn config_from_repo(name: &str, changes: &[(&str, String)]) -> String {
    let mut text = read(&repo().join("config").join(name));
    assert!(!text.is_empty(), "config/{name} is missing");
    for (k, v) in changes {
        let line = format!("{k}={v}");
        let replaced: Vec<String> = text
            .lines()
            .map(|l| if l.starts_with(&format!("{k}=")) { line.clone() } else { l.to_string() })
            .collect();
        text = replaced.join("\n") + "\n";
        if !text.lines().any(|l| l == line) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    text
}

fn consume_all(broker: &Broker, topic: &str, n: usize) -> Vec<String> {
    let out = script(
        "kafka-console-consumer.sh",
        &[
            "--bootstrap-server",
            &broker.addr(),
            "--topic",
            topic,
            "--from-beginning",
            "--max-messages",
            &n.to_string(),
            "--timeout-ms",
            "20000",
        ],
        None,
    );
    stdout(&out).lines().map(str::to_string).collect()
}

#[test]
fn quickstart_connect_step_then_kill9_mid_stream_loses_no_line() {
    let broker = Broker::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("config")).unwrap();
    let rest = free_port();
    std::fs::write(
        d.join("config/connect-standalone.properties"),
        config_from_repo(
            "connect-standalone.properties",
            &[
                ("bootstrap.servers", broker.addr()),
                ("offset.storage.file.filename", d.join("connect.offsets").display().to_string()),
                ("listeners", format!("http://127.0.0.1:{rest}")),
            ],
        ),
    )
    .unwrap();
    for f in ["connect-file-source.properties", "connect-file-sink.properties"] {
        std::fs::copy(repo().join("config").join(f), d.join("config").join(f)).unwrap();
    }
    // > echo -e "foo\nbar" > test.txt
    std::fs::write(d.join("test.txt"), "foo\nbar\n").unwrap();
    // > bin/connect-standalone.sh config/connect-standalone.properties
    //   config/connect-file-source.properties config/connect-file-sink.properties
    let args = [
        "config/connect-standalone.properties",
        "config/connect-file-source.properties",
        "config/connect-file-sink.properties",
    ];
    let mut worker = Worker::start(d, "connect-standalone.sh", &args, rest, "connect.log");
    let sink = d.join("test.sink.txt");
    wait_until(Duration::from_secs(60), "test.sink.txt to hold foo and bar", || {
        read(&sink) == "foo\nbar\n"
    });
    // > bin/kafka-console-consumer.sh --bootstrap-server localhost:9092 --topic connect-test --from-beginning
    assert_eq!(
        consume_all(&broker, "connect-test", 2),
        [
            r#"{"schema":{"type":"string","optional":false},"payload":"foo"}"#,
            r#"{"schema":{"type":"string","optional":false},"payload":"bar"}"#
        ],
        "JsonConverter's envelope, byte for byte"
    );
    // > echo "Another line" >> test.txt
    append(&d.join("test.txt"), "Another line\n");
    wait_until(Duration::from_secs(30), "the appended line in the sink", || {
        read(&sink).ends_with("Another line\n")
    });

    // kill -9 while a writer appends, then restart: every line arrives.
    let total = 3000usize;
    let writer = {
        let path = d.join("test.txt");
        std::thread::spawn(move || {
            for i in 0..total {
                append(&path, &format!("line-{i:05}\n"));
                if i % 100 == 99 {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        })
    };
    wait_until(Duration::from_secs(30), "some lines to reach the sink", || {
        read(&sink).lines().filter(|l| l.starts_with("line-")).count() >= 300
    });
    worker.child.kill9();
    writer.join().unwrap();
    let before_restart = read(&sink).lines().count();
    let worker = Worker::start(d, "connect-standalone.sh", &args, rest, "connect.log");
    let want: Vec<String> = (0..total).map(|i| format!("line-{i:05}")).collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let text = read(&sink);
        let seen: std::collections::BTreeSet<&str> = text.lines().collect();
        if want.iter().all(|l| seen.contains(l.as_str())) {
            break;
        }
        assert!(Instant::now() < deadline, "lines lost after kill -9:\n{}", worker.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = read(&sink);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for l in text.lines() {
        *counts.entry(l).or_default() += 1;
    }
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    eprintln!(
        "kill -9 mid-stream: {total} lines written, {} sink lines before restart, {} after, {duplicates} duplicates",
        before_restart,
        text.lines().count()
    );
    // At least once: duplicates only of what followed the last commit
    // before the kill, never a reordering within what was committed.
    let first_line = text.lines().position(|l| l == "line-00000").unwrap();
    assert!(duplicates <= total, "more duplicates than lines since the last commit");
    assert_eq!(&text.lines().take(3).collect::<Vec<_>>(), &["foo", "bar", "Another line"]);
    assert!(first_line == 3, "the first run's lines come first");
    let log = worker.log_text();
    assert!(log.contains("resuming at position") || duplicates > 0, "{log}");
}

fn start_standalone(broker: &Broker, d: &Path, extra: &[(&str, String)]) -> Worker {
    let rest = free_port();
    let mut changes = vec![
        ("bootstrap.servers", broker.addr()),
        ("offset.storage.file.filename", d.join("connect.offsets").display().to_string()),
        ("listeners", format!("http://127.0.0.1:{rest}")),
        ("offset.flush.interval.ms", "500".to_string()),
    ];
    changes.extend(extra.iter().cloned());
    std::fs::write(
        d.join("worker.properties"),
        config_from_repo("connect-standalone.properties", &changes),
    )
    .unwrap();
    Worker::start(d, "connect-standalone.sh", &["worker.properties"], rest, "connect.log")
}

fn wait_state(py: &Path, w: &Worker, name: &str, want: &str, tasks: Option<&str>) -> Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (code, s) = http(py, "GET", &w.url(&format!("/connectors/{name}/status")), None);
        let tasks_ok = match tasks {
            None => true,
            Some(t) => s["tasks"]
                .as_array()
                .is_some_and(|a| !a.is_empty() && a.iter().all(|x| x["state"] == t)),
        };
        if code == 200 && s["connector"]["state"] == want && tasks_ok {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never reached {want}/{tasks:?}: {s}\n{}",
            w.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn rest_api_endpoints_answer_with_kafkas_json() {
    let Some(py) = http_python() else {
        skip("no python3 for the REST client");
        return;
    };
    let broker = Broker::start(&[]);
    create_topic(&broker, "rest-in", "1");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let w = start_standalone(&broker, d, &[]);

    let (code, root) = http(&py, "GET", &w.url("/"), None);
    assert_eq!(code, 200);
    assert!(root["version"].is_string() && root["commit"].is_string(), "{root}");
    assert!(!root["kafka_cluster_id"].as_str().unwrap().is_empty(), "{root}");
    assert_eq!(http(&py, "GET", &w.url("/connectors"), None), (200, json!([])));

    let (code, plugins) = http(&py, "GET", &w.url("/connector-plugins"), None);
    assert_eq!(code, 200);
    let classes: Vec<(&str, &str)> = plugins
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["class"].as_str().unwrap(), p["type"].as_str().unwrap()))
        .collect();
    assert!(
        classes.contains(&("org.apache.kafka.connect.file.FileStreamSourceConnector", "source"))
    );
    assert!(classes.contains(&("org.apache.kafka.connect.file.FileStreamSinkConnector", "sink")));

    let (code, v) = http(
        &py,
        "PUT",
        &w.url("/connector-plugins/FileStreamSinkConnector/config/validate"),
        Some(&json!({"connector.class": "FileStreamSink", "tasks.max": "1"})),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["name"], "org.apache.kafka.connect.file.FileStreamSinkConnector");
    assert_eq!(v["error_count"], 2, "topics and topics.regex both flag the missing topics: {v}");
    assert!(v["groups"].as_array().unwrap().contains(&json!("Common")));
    let topics_entry = v["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["definition"]["name"] == "topics")
        .unwrap();
    for k in [
        "type",
        "required",
        "default_value",
        "importance",
        "documentation",
        "group",
        "width",
        "display_name",
        "dependents",
        "order",
    ] {
        assert!(
            topics_entry["definition"].get(k).is_some(),
            "definition.{k} missing: {topics_entry}"
        );
    }
    for k in ["name", "value", "recommended_values", "errors", "visible"] {
        assert!(topics_entry["value"].get(k).is_some(), "value.{k} missing: {topics_entry}");
    }

    let input = d.join("in.txt");
    std::fs::write(&input, "one\ntwo\n").unwrap();
    let source = json!({
        "name": "src",
        "config": {"connector.class": "FileStreamSource", "file": input.display().to_string(), "topic": "rest-in", "tasks.max": 1}
    });
    let (code, created) = http(&py, "POST", &w.url("/connectors"), Some(&source));
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["name"], "src");
    assert_eq!(created["type"], "source");
    assert_eq!(created["config"]["tasks.max"], "1", "configs are strings");
    assert_eq!(created["tasks"], json!([{"connector": "src", "task": 0}]));
    let (code, dup) = http(&py, "POST", &w.url("/connectors"), Some(&source));
    assert_eq!(
        (code, dup),
        (409, json!({"error_code": 409, "message": "Connector src already exists"}))
    );
    let (code, bad) = http(
        &py,
        "POST",
        &w.url("/connectors"),
        Some(&json!({"name": "bad", "config": {"connector.class": "com.example.NoSuchConnector"}})),
    );
    assert_eq!(code, 400);
    assert_eq!(bad["error_code"], 400);
    assert!(
        bad["message"]
            .as_str()
            .unwrap()
            .contains("Failed to find any class that implements Connector"),
        "{bad}"
    );
    let (code, bad) = http(
        &py,
        "POST",
        &w.url("/connectors"),
        Some(
            &json!({"name": "badconv", "config": {"connector.class": "FileStreamSink", "topics": "x", "value.converter": "com.example.Nope"}}),
        ),
    );
    assert_eq!(code, 400, "{bad}");
    assert!(
        bad["message"].as_str().unwrap().contains("com.example.Nope could not be found"),
        "{bad}"
    );

    wait_state(&py, &w, "src", "RUNNING", Some("RUNNING"));
    let (code, info) = http(&py, "GET", &w.url("/connectors/src"), None);
    assert_eq!((code, &info), (200, &created));
    let (code, config) = http(&py, "GET", &w.url("/connectors/src/config"), None);
    assert_eq!((code, &config), (200, &created["config"]));
    let (code, tasks) = http(&py, "GET", &w.url("/connectors/src/tasks"), None);
    assert_eq!(code, 200);
    assert_eq!(tasks[0]["id"], json!({"connector": "src", "task": 0}));
    assert_eq!(
        tasks[0]["config"]["task.class"],
        "org.apache.kafka.connect.file.FileStreamSourceTask"
    );
    let (code, ts) = http(&py, "GET", &w.url("/connectors/src/tasks/0/status"), None);
    assert_eq!(code, 200);
    assert_eq!(ts["id"], 0);
    assert_eq!(ts["state"], "RUNNING");
    assert_eq!(ts["worker_id"], format!("127.0.0.1:{}", w.port));
    let (code, expanded) = http(&py, "GET", &w.url("/connectors?expand=status&expand=info"), None);
    assert_eq!(code, 200);
    assert_eq!(expanded["src"]["info"], created);
    assert_eq!(expanded["src"]["status"]["connector"]["state"], "RUNNING");

    // Offsets once the two lines are committed.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, o) = http(&py, "GET", &w.url("/connectors/src/offsets"), None);
        if o["offsets"]
            == json!([{"partition": {"filename": input.display().to_string()}, "offset": {"position": 8}}])
        {
            break;
        }
        assert!(Instant::now() < deadline, "offsets never committed: {o}");
        std::thread::sleep(Duration::from_millis(100));
    }

    assert_eq!(http(&py, "PUT", &w.url("/connectors/src/pause"), None).0, 202);
    wait_state(&py, &w, "src", "PAUSED", Some("PAUSED"));
    assert_eq!(http(&py, "PUT", &w.url("/connectors/src/resume"), None).0, 202);
    wait_state(&py, &w, "src", "RUNNING", Some("RUNNING"));
    assert_eq!(http(&py, "POST", &w.url("/connectors/src/restart"), None), (204, Value::Null));
    let (code, restarted) = http(
        &py,
        "POST",
        &w.url("/connectors/src/restart?includeTasks=true&onlyFailed=false"),
        None,
    );
    assert_eq!(code, 202);
    assert_eq!(restarted["name"], "src");
    assert_eq!(
        http(&py, "POST", &w.url("/connectors/src/tasks/0/restart"), None),
        (204, Value::Null)
    );
    assert_eq!(http(&py, "POST", &w.url("/connectors/src/tasks/7/restart"), None).0, 404);

    let (code, err) = http(&py, "DELETE", &w.url("/connectors/src/offsets"), None);
    assert_eq!(code, 400);
    assert!(
        err["message"].as_str().unwrap().starts_with("Connectors must be in the STOPPED state"),
        "{err}"
    );
    assert_eq!(http(&py, "PUT", &w.url("/connectors/src/stop"), None).0, 202);
    let stopped = wait_state(&py, &w, "src", "STOPPED", None);
    assert_eq!(stopped["tasks"], json!([]), "a stopped connector has no tasks");
    let (code, reset) = http(&py, "DELETE", &w.url("/connectors/src/offsets"), None);
    assert_eq!(
        (code, reset),
        (200, json!({"message": "The offsets for this connector have been reset successfully"}))
    );
    assert_eq!(
        http(&py, "GET", &w.url("/connectors/src/offsets"), None),
        (200, json!({"offsets": []}))
    );

    // PUT config: 200 for an existing connector, 201 for a new one.
    let mut cfg = created["config"].clone();
    cfg["batch.size"] = json!("10");
    let (code, updated) = http(&py, "PUT", &w.url("/connectors/src/config"), Some(&cfg));
    assert_eq!(code, 200, "{updated}");
    assert_eq!(updated["config"]["batch.size"], "10");
    let sink_out = d.join("out.txt");
    let sink_cfg = json!({
        "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
        "topics": "rest-in",
        "file": sink_out.display().to_string(),
    });
    let (code, sink) = http(&py, "PUT", &w.url("/connectors/snk/config"), Some(&sink_cfg));
    assert_eq!(code, 201, "{sink}");
    assert_eq!(sink["type"], "sink");
    wait_until(Duration::from_secs(30), "the sink to write both lines", || {
        read(&sink_out) == "one\ntwo\n"
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, o) = http(&py, "GET", &w.url("/connectors/snk/offsets"), None);
        if o["offsets"]
            == json!([{"partition": {"kafka_topic": "rest-in", "kafka_partition": 0}, "offset": {"kafka_offset": 2}}])
        {
            break;
        }
        assert!(Instant::now() < deadline, "sink offsets never committed: {o}");
        std::thread::sleep(Duration::from_millis(100));
    }

    assert_eq!(http(&py, "DELETE", &w.url("/connectors/src"), None), (204, Value::Null));
    assert_eq!(
        http(&py, "GET", &w.url("/connectors/src"), None),
        (404, json!({"error_code": 404, "message": "Connector src not found"}))
    );
    assert_eq!(http(&py, "GET", &w.url("/connectors"), None), (200, json!(["snk"])));
    assert_eq!(http(&py, "GET", &w.url("/nope"), None).0, 404);
    let (code, e) = http(&py, "POST", &w.url("/connectors"), None);
    assert_eq!(code, 400, "an empty body is a JSON error: {e}");
    assert_eq!(e["error_code"], 400);
}

#[test]
fn rest_server_refuses_oversized_and_malformed_requests() {
    use std::io::{Read, Write};
    let broker = Broker::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let w = start_standalone(&broker, dir.path(), &[]);
    let ask = |raw: &[u8]| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", w.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(raw).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let out = ask(b"POST /connectors HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    let out =
        ask(b"POST /connectors HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{nope");
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(out.contains(r#""error_code":400"#), "{out}");
    let out = ask(b"garbage\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    // Still serving.
    let out = ask(b"GET /connectors HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 200") && out.ends_with("[]"), "{out}");
}

#[test]
fn failed_sink_task_shows_its_trace_and_restarts() {
    let Some(py) = http_python() else {
        skip("no python3 for the REST client");
        return;
    };
    let broker = Broker::start(&[]);
    create_topic(&broker, "mixed", "1");
    let out = script(
        "kafka-console-producer.sh",
        &["--bootstrap-server", &broker.addr(), "--topic", "mixed"],
        Some(b"not json at all\n{\"schema\":{\"type\":\"string\",\"optional\":false},\"payload\":\"good\"}\n"),
    );
    ok(&out);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let w = start_standalone(&broker, d, &[]);
    // A second, healthy connector keeps running beside the failing one.
    std::fs::write(d.join("in.txt"), "x\n").unwrap();
    let (code, _) = http(
        &py,
        "POST",
        &w.url("/connectors"),
        Some(
            &json!({"name": "healthy", "config": {"connector.class": "FileStreamSource", "file": d.join("in.txt").display().to_string(), "topic": "other"}}),
        ),
    );
    assert_eq!(code, 201);
    let out_file = d.join("sink.txt");
    let (code, _) = http(
        &py,
        "POST",
        &w.url("/connectors"),
        Some(
            &json!({"name": "picky", "config": {"connector.class": "FileStreamSink", "topics": "mixed", "file": out_file.display().to_string()}}),
        ),
    );
    assert_eq!(code, 201);
    let failed = wait_state(&py, &w, "picky", "RUNNING", Some("FAILED"));
    let trace = failed["tasks"][0]["trace"].as_str().unwrap();
    assert!(
        trace.contains("JsonConverter")
            || trace.contains("Converting byte[] to Kafka Connect data failed"),
        "{trace}"
    );
    wait_state(&py, &w, "healthy", "RUNNING", Some("RUNNING"));

    // Skip the bad record the way an operator would, then restart the task.
    let out = script(
        "kafka-consumer-groups.sh",
        &[
            "--bootstrap-server",
            &broker.addr(),
            "--group",
            "connect-picky",
            "--reset-offsets",
            "--topic",
            "mixed",
            "--to-offset",
            "1",
            "--execute",
        ],
        None,
    );
    ok(&out);
    assert_eq!(http(&py, "POST", &w.url("/connectors/picky/tasks/0/restart"), None).0, 204);
    wait_state(&py, &w, "picky", "RUNNING", Some("RUNNING"));
    wait_until(Duration::from_secs(30), "the good record in the sink", || {
        read(&out_file) == "good\n"
    });
}

fn distributed_worker(broker: &Broker, d: &Path, n: usize) -> Worker {
    let rest = free_port();
    let props = config_from_repo(
        "connect-distributed.properties",
        &[
            ("bootstrap.servers", broker.addr()),
            ("listeners", format!("http://127.0.0.1:{rest}")),
            ("offset.flush.interval.ms", "1000".to_string()),
        ],
    );
    let file = format!("worker{n}.properties");
    std::fs::write(d.join(&file), props).unwrap();
    Worker::start(d, "connect-distributed.sh", &[&file], rest, &format!("worker{n}.log"))
}

/// The sum of a connector's committed offsets from GET
/// /connectors/NAME/offsets: a source's file positions, a sink's next
/// offsets over all its partitions.
fn committed_offsets(py: &Path, w: &Worker, name: &str) -> u64 {
    let (code, body) = http(py, "GET", &w.url(&format!("/connectors/{name}/offsets")), None);
    if code != 200 {
        return 0;
    }
    body["offsets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["offset"]["position"].as_u64().or(o["offset"]["kafka_offset"].as_u64()))
        .sum()
}

#[test]
fn distributed_workers_share_tasks_and_take_over_after_kill9() {
    let Some(py) = http_python() else {
        skip("no python3 for the REST client");
        return;
    };
    let broker = Broker::start(&[]);
    create_topic(&broker, "shared", "2");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut w1 = distributed_worker(&broker, d, 1);
    let w2 = distributed_worker(&broker, d, 2);
    let input = d.join("input.txt");
    let output = d.join("output.txt");
    let first: String = (0..500).map(|i| format!("row-{i:05}\n")).collect();
    std::fs::write(&input, &first).unwrap();
    let (code, body) = http(
        &py,
        "POST",
        &w1.url("/connectors"),
        Some(&json!({"name": "sink", "config": {
            "connector.class": "FileStreamSink", "tasks.max": "2", "topics": "shared",
            "file": output.display().to_string(),
            "value.converter": "org.apache.kafka.connect.storage.StringConverter"}})),
    );
    assert_eq!(code, 201, "{body}");
    let (code, body) = http(
        &py,
        "POST",
        &w2.url("/connectors"),
        Some(&json!({"name": "source", "config": {
            "connector.class": "FileStreamSource", "topic": "shared",
            "file": input.display().to_string(),
            "value.converter": "org.apache.kafka.connect.storage.StringConverter"}})),
    );
    assert_eq!(code, 201, "{body}");
    // Both workers see both connectors, and the sink's two tasks run on
    // different workers.
    let ids = [format!("127.0.0.1:{}", w1.port), format!("127.0.0.1:{}", w2.port)];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, s) = http(&py, "GET", &w2.url("/connectors/sink/status"), None);
        let workers: Vec<&str> = s["tasks"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter(|x| x["state"] == "RUNNING")
                    .filter_map(|x| x["worker_id"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        if workers.len() == 2 && workers[0] != workers[1] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "tasks not spread over both workers: {s}\n{}\n{}",
            w1.log_text(),
            w2.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Worker 1 learns of the source (created through worker 2) from the
    // config topic.
    wait_until(Duration::from_secs(30), "worker 1 to list both connectors", || {
        http(&py, "GET", &w1.url("/connectors"), None) == (200, json!(["sink", "source"]))
    });
    wait_until(Duration::from_secs(60), "the first 500 rows in the sink", || {
        read(&output).lines().collect::<std::collections::BTreeSet<_>>().len() == 500
    });
    // The kill comes after a commit (offset.flush.interval.ms=1000) of the
    // source's position and the sink's offsets, so the survivor resumes
    // from them rather than re-reading everything.
    wait_until(Duration::from_secs(60), "the first 500 rows committed", || {
        committed_offsets(&py, &w2, "source") == 500 * 10
            && committed_offsets(&py, &w2, "sink") == 500
    });

    w1.child.kill9();
    let killed_at = Instant::now();
    let more: String = (500..1000).map(|i| format!("row-{i:05}\n")).collect();
    append(&input, &more);
    // session.timeout.ms is 10 s: the coordinator expires the dead worker,
    // then the survivor rejoins; the bound leaves room for a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, s) = http(&py, "GET", &w2.url("/connectors/sink/status"), None);
        let on_w2 = s["tasks"].as_array().is_some_and(|t| {
            t.len() == 2 && t.iter().all(|x| x["state"] == "RUNNING" && x["worker_id"] == ids[1])
        });
        if on_w2 {
            break;
        }
        assert!(Instant::now() < deadline, "worker 2 never took over: {s}\n{}", w2.log_text());
        std::thread::sleep(Duration::from_millis(200));
    }
    let took_over = killed_at.elapsed();
    let want: Vec<String> = (0..1000).map(|i| format!("row-{i:05}")).collect();
    wait_until(Duration::from_secs(60), "every row in the sink", || {
        let text = read(&output);
        let seen: std::collections::BTreeSet<&str> = text.lines().collect();
        want.iter().all(|r| seen.contains(r.as_str()))
    });
    let lines = read(&output).lines().count();
    eprintln!("distributed kill -9: worker 2 ran both sink tasks {took_over:?} after the kill; sink has {lines} lines for 1000 rows");
}

#[test]
fn unreachable_broker_and_missing_settings_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let worker = d.join("worker.properties");
    std::fs::write(
        &worker,
        format!(
            "bootstrap.servers=127.0.0.1:{}\noffset.storage.file.filename={}\nlisteners=http://127.0.0.1:{}\n",
            free_port(),
            d.join("offsets").display(),
            free_port()
        ),
    )
    .unwrap();
    let path = worker.display().to_string();
    let out = kafka_rs(&["connect-standalone", &path], None, Duration::from_secs(60));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("Error: Failed to connect to and describe Kafka cluster at 127.0.0.1:"),
        "{err}"
    );

    std::fs::write(&worker, "bootstrap.servers=127.0.0.1:1\n").unwrap();
    let out = kafka_rs(&["connect-standalone", &path], None, Duration::from_secs(60));
    assert_eq!(
        stderr(&out),
        "Error: Missing required configuration \"offset.storage.file.filename\" which has no default value.\n"
    );
    let out = kafka_rs(&["connect-distributed", &path], None, Duration::from_secs(60));
    assert_eq!(
        stderr(&out),
        "Error: Missing required configuration \"group.id\" which has no default value.\n"
    );
}
