//! A snapshot as tables: one per pane, each row with its cells, the values
//! to sort by, and how it should stand out (under-replicated, offline,
//! down). The live view and `--once` both print these, so the terminal and
//! scripts see the same columns.

use std::cmp::Ordering;

use super::snapshot::{GroupRow, Snapshot};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Normal,
    /// Under-replicated: readable, but one failure from trouble.
    Warn,
    /// Offline partition or broker down.
    Bad,
}

impl Mark {
    /// The worse of what a row shows: down or offline over under-replicated.
    pub fn of(bad: bool, warn: bool) -> Mark {
        if bad {
            Mark::Bad
        } else if warn {
            Mark::Warn
        } else {
            Mark::Normal
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Key {
    Num(f64),
    Text(String),
}

impl Key {
    fn cmp(&self, other: &Key) -> Ordering {
        match (self, other) {
            (Key::Num(a), Key::Num(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
            (Key::Text(a), Key::Text(b)) => a.cmp(b),
            (Key::Num(_), Key::Text(_)) => Ordering::Greater,
            (Key::Text(_), Key::Num(_)) => Ordering::Less,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Row {
    pub cells: Vec<String>,
    pub keys: Vec<Key>,
    pub mark: Mark,
}

#[derive(Clone, Debug)]
pub struct Table {
    pub headers: Vec<&'static str>,
    /// Right-aligned columns (numbers).
    pub right: Vec<bool>,
    pub rows: Vec<Row>,
    /// The column a filter regex is matched against.
    pub filter_col: usize,
}

impl Table {
    fn new(columns: &[(&'static str, bool)]) -> Self {
        Self {
            headers: columns.iter().map(|c| c.0).collect(),
            right: columns.iter().map(|c| c.1).collect(),
            rows: Vec::new(),
            filter_col: 0,
        }
    }

    fn push(&mut self, cells: Vec<(String, Key)>, mark: Mark) {
        let (cells, keys) = cells.into_iter().unzip();
        self.rows.push(Row { cells, keys, mark });
    }

    /// Sorts by column `col` (ties keep the snapshot's order).
    pub fn sort(&mut self, col: usize, descending: bool) {
        if col >= self.headers.len() {
            return;
        }
        self.rows.sort_by(|a, b| {
            let o = a.keys[col].cmp(&b.keys[col]);
            if descending {
                o.reverse()
            } else {
                o
            }
        });
    }

    /// Keeps the rows whose name (topic, group, broker address) matches.
    pub fn retain(&mut self, filter: &regex::Regex) {
        let col = self.filter_col;
        self.rows.retain(|r| r.cells.get(col).is_some_and(|c| filter.is_match(c)));
    }

    pub fn widths(&self) -> Vec<usize> {
        let mut w: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.cells.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        w
    }

    pub fn header_line(&self, widths: &[usize]) -> String {
        let cells: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        line(&cells, widths, &self.right)
    }

    pub fn row_line(&self, row: &Row, widths: &[usize]) -> String {
        line(&row.cells, widths, &self.right)
    }

    /// The whole table as plain text lines.
    pub fn lines(&self) -> Vec<String> {
        let w = self.widths();
        let mut out = vec![self.header_line(&w)];
        out.extend(self.rows.iter().map(|r| self.row_line(r, &w)));
        out
    }
}

fn line(cells: &[String], widths: &[usize], right: &[bool]) -> String {
    let mut s = String::new();
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            s.push_str("  ");
        }
        let pad = widths[i].saturating_sub(c.chars().count());
        let last = i + 1 == cells.len();
        if right[i] {
            s.extend(std::iter::repeat_n(' ', pad));
            s.push_str(c);
        } else {
            s.push_str(c);
            if !last {
                s.extend(std::iter::repeat_n(' ', pad));
            }
        }
    }
    s
}

fn text(s: impl Into<String>) -> (String, Key) {
    let s = s.into();
    (s.clone(), Key::Text(s))
}

fn num(n: i64) -> (String, Key) {
    (n.to_string(), Key::Num(n as f64))
}

fn opt_num(n: Option<i64>) -> (String, Key) {
    match n {
        Some(n) => num(n),
        None => ("-".into(), Key::Num(-1.0)),
    }
}

fn ids(v: &[i32]) -> String {
    v.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// 1536 → "1.5KiB"; what a person reads faster than a byte count, in one
/// word so columns split on whitespace.
pub fn human_bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0}B")
    } else {
        format!("{v:.1}{}", UNITS[i])
    }
}

fn bytes(n: Option<i64>) -> (String, Key) {
    match n {
        Some(n) => (human_bytes(n as f64), Key::Num(n as f64)),
        None => ("-".into(), Key::Num(-1.0)),
    }
}

fn rate(r: Option<f64>, as_bytes: bool) -> (String, Key) {
    match r {
        Some(r) if as_bytes => (human_bytes(r), Key::Num(r)),
        Some(r) => (format!("{r:.1}"), Key::Num(r)),
        None => ("-".into(), Key::Num(-1.0)),
    }
}

pub fn brokers(s: &Snapshot) -> Table {
    let mut t = Table::new(&[
        ("ID", true),
        ("ADDRESS", false),
        ("RACK", false),
        ("STATUS", false),
        ("CONTROLLER", false),
        ("LEADERS", true),
        ("PARTITIONS", true),
        ("UNDER-REPLICATED", true),
    ]);
    for b in &s.brokers {
        let addr = if b.port < 0 { "?".to_string() } else { format!("{}:{}", b.host, b.port) };
        let mark = Mark::of(!b.up, b.under_replicated > 0);
        t.push(
            vec![
                num(b.id as i64),
                text(addr),
                text(b.rack.clone().unwrap_or_else(|| "-".into())),
                text(if b.up { "up" } else { "DOWN" }),
                text(if b.controller { "yes" } else { "-" }),
                num(b.leaders as i64),
                num(b.partitions as i64),
                num(b.under_replicated as i64),
            ],
            mark,
        );
    }
    // Filters match the address, the column people recognise.
    t.filter_col = 1;
    t
}

pub fn topics(s: &Snapshot) -> Table {
    let mut t = Table::new(&[
        ("TOPIC", false),
        ("PARTITIONS", true),
        ("RF", true),
        ("UNDER-REPLICATED", true),
        ("OFFLINE", true),
        ("RECORDS", true),
        ("SIZE", true),
        ("RECORDS-IN/S", true),
        ("BYTES-IN/S", true),
        ("RECORDS-OUT/S", true),
        ("BYTES-OUT/S", true),
    ]);
    for r in &s.topics {
        let mark = Mark::of(r.offline > 0, r.under_replicated > 0);
        t.push(
            vec![
                text(r.name.clone()),
                num(r.partitions as i64),
                num(r.replication_factor as i64),
                num(r.under_replicated as i64),
                num(r.offline as i64),
                opt_num(r.records),
                bytes(r.size_bytes),
                rate(r.records_in_per_sec, false),
                rate(r.bytes_in_per_sec, true),
                rate(r.records_out_per_sec, false),
                rate(r.bytes_out_per_sec, true),
            ],
            mark,
        );
    }
    t
}

/// Partitions of `topic`, or of every topic when `None`.
pub fn partitions(s: &Snapshot, topic: Option<&str>) -> Table {
    let mut t = Table::new(&[
        ("TOPIC", false),
        ("PARTITION", true),
        ("LEADER", true),
        ("EPOCH", true),
        ("REPLICAS", false),
        ("ISR", false),
        ("OFFLINE-REPLICAS", false),
        ("LOG-START-OFFSET", true),
        ("HIGH-WATERMARK", true),
        ("SIZE", true),
    ]);
    for p in s.partitions.iter().filter(|p| topic.is_none_or(|t| p.topic == t)) {
        let mark = Mark::of(p.offline, p.under_replicated);
        let leader =
            if p.leader < 0 { ("none".into(), Key::Num(-1.0)) } else { num(p.leader as i64) };
        let offline =
            if p.offline_replicas.is_empty() { "-".into() } else { ids(&p.offline_replicas) };
        t.push(
            vec![
                text(p.topic.clone()),
                num(p.partition as i64),
                leader,
                num(p.leader_epoch as i64),
                text(ids(&p.replicas)),
                text(ids(&p.isr)),
                text(offline),
                opt_num(p.log_start_offset),
                opt_num(p.high_watermark),
                bytes(p.size_bytes),
            ],
            mark,
        );
    }
    t
}

/// `▁▂▅█ +42`: the lag's recent shape and its last change.
pub fn trend(samples: &[i64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if samples.is_empty() {
        return "-".into();
    }
    let (lo, hi) = samples.iter().fold((i64::MAX, i64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let spark: String = samples
        .iter()
        .map(|&v| {
            if hi == lo {
                BARS[0]
            } else {
                BARS[((v - lo) as f64 / (hi - lo) as f64 * 7.0).round() as usize]
            }
        })
        .collect();
    let delta = match samples {
        [.., a, b] => b - a,
        _ => 0,
    };
    let change = match delta.cmp(&0) {
        Ordering::Greater => format!("+{delta}"),
        Ordering::Less => delta.to_string(),
        Ordering::Equal => "=".into(),
    };
    format!("{spark} {change}")
}

pub fn groups(s: &Snapshot) -> Table {
    let mut t = Table::new(&[
        ("GROUP", false),
        ("STATE", false),
        ("COORDINATOR", true),
        ("MEMBERS", true),
        ("LAG", true),
        ("TREND", false),
    ]);
    for g in &s.groups {
        let lag_key = g.lag_trend.last().copied().or(g.lag);
        let state = match &g.error {
            Some(e) => format!("{} ({e})", g.state),
            None => g.state.clone(),
        };
        t.push(
            vec![
                text(g.group_id.clone()),
                text(state),
                match g.coordinator {
                    Some(c) => num(c as i64),
                    None => ("-".into(), Key::Num(-1.0)),
                },
                num(g.members as i64),
                opt_num(g.lag),
                (trend(&g.lag_trend), Key::Num(lag_key.unwrap_or(-1) as f64)),
            ],
            if g.error.is_some() { Mark::Warn } else { Mark::Normal },
        );
    }
    t
}

/// One group's partitions with their lag, in consumer-groups --describe's columns.
pub fn group_partitions(g: &GroupRow) -> Table {
    let mut t = Table::new(&[
        ("TOPIC", false),
        ("PARTITION", true),
        ("CURRENT-OFFSET", true),
        ("LOG-END-OFFSET", true),
        ("LAG", true),
        ("CONSUMER-ID", false),
        ("HOST", false),
        ("CLIENT-ID", false),
    ]);
    let or_dash = |v: &Option<String>| text(v.clone().unwrap_or_else(|| "-".into()));
    for p in &g.partitions {
        t.push(
            vec![
                text(p.topic.clone()),
                num(p.partition as i64),
                opt_num(p.current_offset),
                opt_num(p.log_end_offset),
                opt_num(p.lag),
                or_dash(&p.consumer_id),
                or_dash(&p.host),
                or_dash(&p.client_id),
            ],
            Mark::Normal,
        );
    }
    t
}

/// The one-line summary at the top of the view and of `--once`.
pub fn summary(s: &Snapshot) -> String {
    let up = s.brokers.iter().filter(|b| b.up).count();
    let controller = if s.controller_id >= 0 { s.controller_id.to_string() } else { "none".into() };
    let under: usize = s.topics.iter().map(|t| t.under_replicated).sum();
    let offline: usize = s.topics.iter().map(|t| t.offline).sum();
    format!(
        "cluster {}  controller {controller}  brokers {up}/{} up  topics {}  partitions {}  under-replicated {under}  offline {offline}  groups {}",
        s.cluster_id.as_deref().unwrap_or("-"),
        s.brokers.len(),
        s.topics.len(),
        s.partitions.len(),
        s.groups.len(),
    )
}

/// Everything in plain text, for `--once` and for output that is not a terminal.
pub fn plain(s: &Snapshot) -> String {
    let mut out = String::new();
    out.push_str(&summary(s));
    out.push('\n');
    for e in &s.errors {
        out.push_str(&format!("ERROR: {e}\n"));
    }
    let mut section = |title: &str, t: Table| {
        out.push_str(&format!("\n{title}\n"));
        for l in t.lines() {
            out.push_str(l.trim_end());
            out.push('\n');
        }
    };
    section("BROKERS", brokers(s));
    section("TOPICS", topics(s));
    section("PARTITIONS", partitions(s, None));
    section("GROUPS", groups(s));
    for g in &s.groups {
        section(&format!("GROUP {}", g.group_id), group_partitions(g));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trend_shows_shape_and_last_change() {
        let cases: [(&[i64], &str, &str); 4] = [
            (&[], "-", "no sample yet"),
            (&[5], "▁ =", "one sample has no change"),
            (&[0, 50, 100], "▁▅█ +50", "a growing lag rises to the top bar"),
            (&[100, 0], "█▁ -100", "a consumer catching up falls"),
        ];
        for (samples, want, why) in cases {
            assert_eq!(trend(samples), want, "{why}");
        }
    }

    #[test]
    fn human_bytes_picks_the_unit() {
        assert_eq!(human_bytes(0.0), "0B");
        assert_eq!(human_bytes(1023.0), "1023B");
        assert_eq!(human_bytes(1536.0), "1.5KiB");
        assert_eq!(human_bytes(3.0 * 1024.0 * 1024.0), "3.0MiB");
    }

    #[test]
    fn sort_is_numeric_not_textual() {
        let mut t = Table::new(&[("N", true)]);
        for n in [9, 10, 2] {
            t.push(vec![num(n)], Mark::Normal);
        }
        t.sort(0, true);
        let got: Vec<&str> = t.rows.iter().map(|r| r.cells[0].as_str()).collect();
        assert_eq!(got, ["10", "9", "2"], "10 sorts above 9 descending");
    }
}
