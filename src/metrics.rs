//! Prometheus's text exposition format (version 0.0.4), the lock-free
//! histogram the runtimes count request latencies in, and the `process_*`
//! families every Prometheus client exports. The broker and the ZooKeeper
//! server each decide which families they publish; this module only knows
//! how to write them and how to serve them on `GET /metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::TcpListener;

use crate::http::{Request, Response};

/// What Prometheus asks for and gets.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A scrape being written: each family once, with its HELP and TYPE lines
/// before its samples, as the format requires.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a family; the samples that follow belong to it.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Self {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.name());
        self
    }

    /// One sample; label values are escaped as the format requires.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", format_value(value));
        self
    }

    /// A family with one unlabelled sample.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: f64) -> &mut Self {
        self.family(name, kind, help).sample(name, &[], value)
    }

    /// The `_bucket`, `_sum` and `_count` samples of one histogram series.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &HistogramSnapshot) {
        let mut cumulative = 0;
        let bucket = format!("{name}_bucket");
        let les = h.bounds.iter().map(|b| format_value(*b)).chain(["+Inf".to_string()]);
        for (le, count) in les.zip(&h.counts) {
            cumulative += count;
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, cumulative as f64);
        }
        self.sample(&format!("{name}_sum"), labels, h.sum);
        self.sample(&format!("{name}_count"), labels, cumulative as f64);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Upper bounds (ms) of the request-time buckets: sub-millisecond appends
/// to 30 s long polls and acks=all waits.
pub const LATENCY_BUCKETS_MS: [f64; 14] =
    [0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 30000.0];

/// A histogram over [`LATENCY_BUCKETS_MS`] that many threads record into
/// without a lock: one relaxed add per bucket hit, count and sum. A scrape
/// may see a record's bucket before its sum; Prometheus tolerates that.
pub struct Histogram {
    /// One per bound, plus the overflow bucket.
    buckets: [AtomicU64; LATENCY_BUCKETS_MS.len() + 1],
    sum_micros: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_micros: AtomicU64::new(0),
        }
    }
}

/// A histogram's state at one scrape.
pub struct HistogramSnapshot {
    pub bounds: &'static [f64],
    /// Per bucket (not cumulative), the overflow bucket last.
    pub counts: Vec<u64>,
    pub sum: f64,
}

impl Histogram {
    pub fn record(&self, elapsed: std::time::Duration) {
        let micros = elapsed.as_micros().min(u64::MAX as u128) as u64;
        let ms = micros as f64 / 1000.0;
        let i =
            LATENCY_BUCKETS_MS.iter().position(|&b| ms <= b).unwrap_or(LATENCY_BUCKETS_MS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// In milliseconds, as Kafka's `*TimeMs` metrics.
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            bounds: &LATENCY_BUCKETS_MS,
            counts: self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect(),
            sum: self.sum_micros.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }
}

/// The standard `process_*` families (what Prometheus's own client
/// libraries export), read from /proc; absent where /proc is.
pub fn write_process_metrics(e: &mut Exposition, start_time_seconds: f64) {
    e.single(
        "process_start_time_seconds",
        Kind::Gauge,
        "Start time of the process since unix epoch in seconds.",
        start_time_seconds,
    );
    // Fields after the command name, which may itself hold spaces.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| fields.get(n).and_then(|v| v.parse::<f64>().ok());
    // /proc counts CPU time in USER_HZ ticks, 100 per second on Linux.
    if let (Some(utime), Some(stime)) = (field(11), field(12)) {
        e.single(
            "process_cpu_seconds_total",
            Kind::Counter,
            "Total user and system CPU time spent in seconds.",
            (utime + stime) / 100.0,
        );
    }
    if let Some(vsize) = field(20) {
        e.single(
            "process_virtual_memory_bytes",
            Kind::Gauge,
            "Virtual memory size in bytes.",
            vsize,
        );
    }
    if let Some(rss_pages) = field(21) {
        let page = rustix::param::page_size() as f64;
        e.single(
            "process_resident_memory_bytes",
            Kind::Gauge,
            "Resident memory size in bytes.",
            rss_pages * page,
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        e.single(
            "process_open_fds",
            Kind::Gauge,
            "Number of open file descriptors.",
            fds.count() as f64,
        );
    }
    let max_fds = std::fs::read_to_string("/proc/self/limits").ok().and_then(|l| {
        l.lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse::<f64>().ok()))
    });
    if let Some(max) = max_fds {
        e.single("process_max_fds", Kind::Gauge, "Maximum number of open file descriptors.", max);
    }
}

/// Seconds since the epoch, for `process_start_time_seconds`.
pub fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Parses a `metrics.listener`-style address: `http://HOST:PORT` or
/// `HOST:PORT` (an empty host binds every interface).
pub fn parse_listener(value: &str) -> Option<(String, u16)> {
    let v = value.trim();
    let v = v.strip_prefix("http://").unwrap_or(v);
    let v = v.strip_suffix('/').unwrap_or(v);
    let (host, port) = v.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((if host.is_empty() { "0.0.0.0".into() } else { host.to_string() }, port))
}

/// Serves `GET /metrics` (and `/`) with what `render` writes at each
/// scrape; `render` keeps blocking work (reading /proc, sizing logs) off
/// the reactor itself.
pub async fn serve<F, Fut>(listener: TcpListener, render: F)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = String> + Send + 'static,
{
    crate::http::serve(listener, move |req: Request| {
        let scrape = (req.method == "GET").then(&render);
        async move {
            let path_ok = req.segments.is_empty() || req.segments == ["metrics"];
            if !path_ok {
                return Response::text(404, "text/plain", "Not Found: scrape /metrics\n".into());
            }
            match scrape {
                Some(scrape) => Response::text(200, CONTENT_TYPE, scrape.await),
                None => Response::text(405, "text/plain", "Method Not Allowed\n".into()),
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_families_labels_and_histograms_in_the_text_format() {
        let h = Histogram::default();
        h.record(std::time::Duration::from_micros(300));
        h.record(std::time::Duration::from_millis(7));
        h.record(std::time::Duration::from_secs(100));
        let mut e = Exposition::new();
        e.family("m_total", Kind::Counter, "Line\none").sample("m_total", &[("t", "a\"b\\")], 3.0);
        e.family("lat", Kind::Histogram, "h");
        e.histogram("lat", &[("request", "Produce")], &h.snapshot());
        let text = e.finish();
        assert!(text.contains("# HELP m_total Line\\none\n"), "{text}");
        assert!(text.contains("m_total{t=\"a\\\"b\\\\\"} 3\n"), "{text}");
        assert!(text.contains("lat_bucket{request=\"Produce\",le=\"0.5\"} 1\n"), "{text}");
        assert!(text.contains("lat_bucket{request=\"Produce\",le=\"10\"} 2\n"), "{text}");
        assert!(text.contains("lat_bucket{request=\"Produce\",le=\"30000\"} 2\n"), "{text}");
        assert!(text.contains("lat_bucket{request=\"Produce\",le=\"+Inf\"} 3\n"), "{text}");
        assert!(text.contains("lat_count{request=\"Produce\"} 3\n"), "{text}");
        assert!(text.contains("lat_sum{request=\"Produce\"} 100007.3\n"), "{text}");
    }

    #[test]
    fn listener_addresses() {
        for (value, want) in [
            ("http://127.0.0.1:9404", Some(("127.0.0.1", 9404))),
            ("127.0.0.1:0", Some(("127.0.0.1", 0))),
            ("http://:7071/", Some(("0.0.0.0", 7071))),
            ("localhost", None),
            ("http://h:notaport", None),
        ] {
            let got = parse_listener(value);
            assert_eq!(got.as_ref().map(|(h, p)| (h.as_str(), *p)), want, "{value}");
        }
    }
}
