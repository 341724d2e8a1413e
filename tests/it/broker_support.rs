//! Shared by the broker tests: a broker process on a free port with its own
//! temp dirs, and a blocking Kafka wire client built on the codec crate.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::support::{self, ChildGuard};

/// A `kafka-rs server-start` child on a free port; killed when dropped.
pub struct Broker {
    pub child: ChildGuard,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Broker {
    pub fn start(overrides: &[&str]) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, overrides)
    }

    /// Starts on `dir` (reused across restarts). `{port}` in an override
    /// stands for the client port chosen here, so a test can name it in
    /// `listeners` beside listeners of its own.
    pub fn start_in(dir: tempfile::TempDir, overrides: &[&str]) -> Broker {
        Self::start_in_on(dir, support::free_port(), overrides)
    }

    /// Like [`Broker::start_in`] on a given client port: a broker that
    /// restarts comes back on the address clients know it by.
    pub fn start_in_on(dir: tempfile::TempDir, port: u16, overrides: &[&str]) -> Broker {
        let mut cmd = Command::new(support::bin());
        cmd.arg("server-start")
            .arg("--override")
            .arg(format!("listeners=PLAINTEXT://127.0.0.1:{port}"))
            .arg("--override")
            .arg(format!("log.dirs={}", dir.path().join("data").display()))
            .env("LOG_DIR", dir.path().join("logs"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap());
        // Each broker's embedded ZooKeeper on a port of its own, unless the
        // test chose one or points the broker at an external ensemble.
        if !overrides.iter().any(|o| {
            o.starts_with("embedded.zookeeper.port=") || o.starts_with("zookeeper.connect=")
        }) {
            cmd.arg("--override").arg("embedded.zookeeper.port=0");
        }
        for o in overrides {
            cmd.arg("--override").arg(o.replace("{port}", &port.to_string()));
        }
        let log = dir.path().join("logs/server.log");
        let starts_before = started_lines(&log);
        let mut child = ChildGuard::spawn("broker", &mut cmd);
        support::wait_for_port(port, Duration::from_secs(20));
        // The listener answers ApiVersions while the broker is still
        // starting, and holds other requests until it is registered; tests
        // want the broker as it is once started, so they wait for its line.
        support::wait_until(Duration::from_secs(60), "the broker's start-up line", || {
            started_lines(&log) > starts_before
                || child.child.as_mut().is_none_or(|c| !matches!(c.try_wait(), Ok(None)))
        });
        Broker { child, port, dir }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// What the process wrote to stderr: panics and allocation failures
    /// land here rather than in server.log.
    pub fn stderr_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("logs/server.log")).unwrap_or_default()
    }

    /// The server log once `shows` holds for it. A thread of the broker's
    /// own writes the log, so a line can land after the answer it explains.
    pub fn log_showing(&self, what: &str, shows: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.server_log();
            if shows(&log) {
                return log;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server log never showed {what}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the broker with SIGKILL and hands back its directory.
    pub fn kill9(mut self) -> tempfile::TempDir {
        self.child.kill9();
        self.dir
    }

    pub fn wire(&self) -> Wire {
        Wire::connect(self.port)
    }
}

/// The resident set size of a process, from /proc.
pub fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A whole request frame: size prefix, header (client id "it") and body.
pub fn request_frame<R: Encodable>(key: ApiKey, version: i16, cid: i32, req: &R) -> Vec<u8> {
    request_frame_as("it", key, version, cid, req)
}

/// A request frame from the given client id (quotas tell clients apart by it).
pub fn request_frame_as<R: Encodable>(
    client_id: &str,
    key: ApiKey,
    version: i16,
    cid: i32,
    req: &R,
) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(cid)
        .with_client_id(Some(StrBytes::from_string(client_id.to_string())));
    let mut body = BytesMut::new();
    header.encode(&mut body, key.request_header_version(version)).unwrap();
    req.encode(&mut body, version).unwrap();
    let mut out = (body.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// A blocking client speaking raw Kafka frames.
pub struct Wire {
    pub stream: TcpStream,
    next_correlation: i32,
    client_id: String,
}

impl Wire {
    pub fn connect(port: u16) -> Wire {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Wire { stream, next_correlation: 1, client_id: "it".into() }
    }

    /// The client id the following requests carry.
    pub fn with_client_id(mut self, client_id: &str) -> Wire {
        self.client_id = client_id.into();
        self
    }

    /// Encodes a request frame without sending it.
    pub fn frame<R: Encodable>(&mut self, key: ApiKey, version: i16, req: &R) -> (i32, Vec<u8>) {
        let cid = self.next_correlation;
        self.next_correlation += 1;
        (cid, request_frame_as(&self.client_id, key, version, cid, req))
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads one response frame; `None` if the broker closed the connection.
    pub fn read_frame(&mut self) -> Option<Bytes> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).ok()?;
        let mut buf = vec![0u8; i32::from_be_bytes(size) as usize];
        self.stream.read_exact(&mut buf).ok()?;
        Some(Bytes::from(buf))
    }

    /// Sends a request and decodes the response, checking the correlation id.
    pub fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        req: &Req,
    ) -> Resp {
        let (cid, frame) = self.frame(key, version, req);
        self.send_raw(&frame);
        self.read_response(key, version, cid)
            .unwrap_or_else(|| panic!("{key:?} v{version}: connection closed"))
    }

    pub fn read_response<Resp: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        cid: i32,
    ) -> Option<Resp> {
        let Some(mut body) = self.read_frame() else {
            return None;
        };
        let header =
            ResponseHeader::decode(&mut body, key.response_header_version(version)).unwrap();
        assert_eq!(header.correlation_id, cid, "responses come back in order");
        Some(Resp::decode(&mut body, version).unwrap())
    }

    /// Whether the broker closed the connection (EOF or reset within the
    /// read timeout; a timeout means it is still open).
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        match self.stream.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => {
                !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
            }
        }
    }
}

/// How many times a server log says a broker finished starting.
fn started_lines(log: &Path) -> usize {
    std::fs::read_to_string(log).unwrap_or_default().matches(" started: listening on ").count()
}
