//! What the perf-test commands share: a rate limiter like Kafka's
//! `ThroughputThrottler`, a progress bar drawn only on a terminal, and
//! `SimpleDateFormat`-style timestamps.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Keeps the send rate at or under `per_sec` records/s (no limit if <= 0).
pub struct Throttle {
    per_sec: f64,
    start: Instant,
}

impl Throttle {
    pub fn new(per_sec: f64) -> Self {
        Self { per_sec, start: Instant::now() }
    }

    /// When the record after `sent` is due, if `sent` records are ahead
    /// of the allowed rate.
    pub fn due(&self, sent: u64) -> Option<Instant> {
        if self.per_sec <= 0.0 {
            return None;
        }
        // A rate so low that the wait overflows a Duration or the clock
        // waits a year, as good as forever for a perf test.
        let year = Duration::from_secs(365 * 24 * 3600);
        let wait = Duration::try_from_secs_f64(sent as f64 / self.per_sec).unwrap_or(year);
        let due = self.start.checked_add(wait.min(year)).unwrap_or(self.start + year);
        (due > Instant::now()).then_some(due)
    }
}

/// A progress bar on stderr when it is a terminal; `None` otherwise, so
/// scripts and pipes see only the report lines.
pub fn progress_bar(total: u64, unit: &str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(&format!(
        "{{bar:40}} {{pos}}/{{len}} {unit} ({{per_sec}}, {{eta}} left)"
    ))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

/// Formats epoch milliseconds (UTC) with the `SimpleDateFormat` letters
/// Kafka's tools use: yyyy MM dd HH mm ss SSS; quotes are dropped and other
/// text is copied.
pub fn format_time(ms: i64, pattern: &str) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let fields = [
        ("yyyy", format!("{y:04}")),
        ("SSS", format!("{:03}", in_day % 1000)),
        ("MM", format!("{m:02}")),
        ("dd", format!("{d:02}")),
        ("HH", format!("{:02}", in_day / 3_600_000)),
        ("mm", format!("{:02}", in_day / 60_000 % 60)),
        ("ss", format!("{:02}", in_day / 1000 % 60)),
    ];
    let mut out = String::new();
    let mut rest = pattern;
    'outer: while !rest.is_empty() {
        for (token, value) in &fields {
            if let Some(r) = rest.strip_prefix(token) {
                out.push_str(value);
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        // Quotes mark literal text in SimpleDateFormat; they are not printed.
        if c != '\'' {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Howard Hinnant's days-to-civil: proleptic Gregorian date of a day count.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_paces_and_any_rate_is_taken() {
        assert_eq!(Throttle::new(-1.0).due(1_000_000), None, "unthrottled");
        let t = Throttle::new(10.0);
        assert_eq!(t.due(0), None, "the first record goes at once");
        let next = t.due(1).expect("the second waits a tenth of a second");
        assert!(next - t.start == Duration::from_millis(100));
        // Rates too low for a Duration wait "forever" instead of panicking.
        for rate in [1e-300, f64::MIN_POSITIVE] {
            assert!(Throttle::new(rate).due(1).is_some());
        }
    }

    #[test]
    fn metrics_table_is_kafkas() {
        let t = metrics_table(&[
            ("producer-metrics", "record-send-total", "c", MetricValue::Double(10.0)),
            ("app-info", "version", "c", MetricValue::Text("0.1.0".into())),
        ]);
        assert_eq!(
            t,
            "\nMetric Name                                        Value\n\
             app-info:version:{client-id=c}                   : 0.1.0\n\
             producer-metrics:record-send-total:{client-id=c} : 10.000\n"
        );
    }

    #[test]
    fn formats_like_simple_date_format() {
        let cases = [
            (0, "yyyy-MM-dd HH:mm:ss:SSS", "1970-01-01 00:00:00:000", "the epoch"),
            (951_782_400_123, "yyyy-MM-dd HH:mm:ss:SSS", "2000-02-29 00:00:00:123", "a leap day"),
            (1_700_000_000_000, "yyyy-MM-dd'T'HH:mm", "2023-11-14T22:13", "quoted text is literal"),
        ];
        for (ms, pattern, want, why) in cases {
            assert_eq!(format_time(ms, pattern), want, "{why}");
        }
    }
}

/// A value as Kafka's metrics hold it: most are doubles, printed `%.3f`.
pub enum MetricValue {
    Double(f64),
    Text(String),
}

/// Kafka's `ToolsUtils.printMetrics` table for `--print-metrics`: a blank
/// line, a `Metric Name` header, then `group:name:{tags} : value` sorted by
/// name. `metrics` holds (group, name, client id, value).
pub fn metrics_table(metrics: &[(&str, &str, &str, MetricValue)]) -> String {
    let mut rows: Vec<(String, String)> = metrics
        .iter()
        .map(|(group, name, client, v)| {
            let value = match v {
                MetricValue::Double(d) => format!("{d:.3}"),
                MetricValue::Text(t) => t.clone(),
            };
            (format!("{group}:{name}:{{client-id={client}}}"), value)
        })
        .collect();
    rows.sort();
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let mut out = format!("\n{:<width$}   {}\n", "Metric Name", "Value");
    for (name, value) in rows {
        out.push_str(&format!("{name:<width$} : {value}\n"));
    }
    out
}
