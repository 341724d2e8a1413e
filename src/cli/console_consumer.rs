//! `kafka-rs console-consumer` (kafka-console-consumer.sh): prints records
//! the way Kafka's `DefaultMessageFormatter` does, tailing with long polls
//! until Ctrl-C, --max-messages or --timeout-ms, then reports
//! `Processed a total of N messages` on stderr.
//!
//! Without --group it reads the partitions directly and commits nothing.
//! With --group (or `group.id`) it joins the consumer group, reads the
//! partitions assigned to it from the group's committed offsets,
//! auto-commits what it printed (`enable.auto.commit`,
//! `auto.commit.interval.ms`), commits again on exit and leaves the group.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::{ArgGroup, Args};
use regex::Regex;

use super::client_opts::{client_config, load_properties, runtime};
use super::deserializer::{Deserializer, SerializationError};
use crate::client::consumer::{Consumer, ConsumerConfig, ConsumerRecord, ForEach, StartOffset};
use crate::client::group_member::{GroupMember, GroupMemberConfig};
use crate::client::Cluster;
use crate::config::Properties;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["topic", "include", "whitelist"])))]
pub struct ConsoleConsumerArgs {
    /// The server(s) to connect to (host:port[,host:port...]).
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap_server: Option<String>,
    /// Find the brokers through ZooKeeper (host:port).
    #[arg(long, value_name = "HOST:PORT")]
    pub zookeeper: Option<String>,
    /// The topic to consume.
    #[arg(long)]
    pub topic: Option<String>,
    /// Regular expression of the topics to consume (whole names).
    #[arg(long, value_name = "REGEX")]
    pub include: Option<String>,
    /// Deprecated alias of --include.
    #[arg(long, value_name = "REGEX", hide = true)]
    pub whitelist: Option<String>,
    /// Consume only this partition.
    #[arg(long)]
    pub partition: Option<i32>,
    /// Where to start with --partition: earliest, latest or an offset.
    #[arg(long, value_name = "OFFSET")]
    pub offset: Option<String>,
    /// Start with the earliest message rather than the latest.
    #[arg(long)]
    pub from_beginning: bool,
    /// Exit after this many messages.
    #[arg(long, value_name = "N")]
    pub max_messages: Option<u64>,
    /// Exit when no message arrived for this long (ms).
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// read_uncommitted, or read_committed to hide aborted transactions.
    #[arg(long, value_name = "LEVEL")]
    pub isolation_level: Option<String>,
    /// A consumer property (key=value, repeatable).
    #[arg(long, value_name = "PROP=VALUE")]
    pub consumer_property: Vec<String>,
    /// Consumer properties file.
    #[arg(long = "consumer.config", value_name = "FILE")]
    pub consumer_config: Option<PathBuf>,
    /// Formatter properties: print.timestamp, print.key, print.offset,
    /// print.partition, print.headers, print.value, key.separator,
    /// line.separator, headers.separator, null.literal (key=value, repeatable).
    #[arg(long, value_name = "PROP=VALUE")]
    pub property: Vec<String>,
    /// Formatter properties file.
    #[arg(long, value_name = "FILE")]
    pub formatter_config: Option<PathBuf>,
    /// The formatter class: kafka.tools.DefaultMessageFormatter,
    /// kafka.tools.LoggingMessageFormatter (also logs each record to stderr)
    /// or kafka.tools.NoOpMessageFormatter (prints nothing); the
    /// org.apache.kafka.tools.consumer.* names work too.
    #[arg(long, value_name = "CLASS", default_value = "kafka.tools.DefaultMessageFormatter")]
    pub formatter: String,
    /// Deserializer class for keys, e.g.
    /// org.apache.kafka.common.serialization.LongDeserializer.
    #[arg(long, value_name = "CLASS")]
    pub key_deserializer: Option<String>,
    /// Deserializer class for values, e.g.
    /// org.apache.kafka.common.serialization.IntegerDeserializer.
    #[arg(long, value_name = "CLASS")]
    pub value_deserializer: Option<String>,
    /// Skip a message that cannot be processed instead of stopping.
    #[arg(long)]
    pub skip_message_on_error: bool,
    /// Consume as a member of this consumer group.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
}

/// Which of Kafka's message formatters prints the records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatterKind {
    Default,
    /// The default output, and each record logged at INFO on stderr.
    Logging,
    /// Nothing printed; only the count at the end.
    NoOp,
}

impl FormatterKind {
    pub fn for_class(class: &str) -> anyhow::Result<Self> {
        let name = class
            .strip_prefix("kafka.tools.")
            .or_else(|| class.strip_prefix("org.apache.kafka.tools.consumer."))
            .unwrap_or("");
        Ok(match name {
            "DefaultMessageFormatter" => Self::Default,
            "LoggingMessageFormatter" => Self::Logging,
            "NoOpMessageFormatter" => Self::NoOp,
            _ => bail!(
                "java.lang.ClassNotFoundException: {class} (kafka-rs has kafka.tools.DefaultMessageFormatter, kafka.tools.LoggingMessageFormatter and kafka.tools.NoOpMessageFormatter)"
            ),
        })
    }
}

/// Why a record could not be printed.
#[derive(Debug)]
pub enum WriteError {
    Io(std::io::Error),
    Deserialize(SerializationError),
}

impl From<std::io::Error> for WriteError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// Kafka's `DefaultMessageFormatter` settings.
#[derive(Clone, Debug)]
pub struct Formatter {
    pub kind: FormatterKind,
    pub key_deserializer: Option<Deserializer>,
    pub value_deserializer: Option<Deserializer>,
    pub print_timestamp: bool,
    pub print_key: bool,
    pub print_offset: bool,
    pub print_partition: bool,
    pub print_headers: bool,
    pub print_value: bool,
    pub key_separator: Vec<u8>,
    pub line_separator: Vec<u8>,
    pub headers_separator: Vec<u8>,
    pub null_literal: Vec<u8>,
}

impl Formatter {
    pub fn from_properties(p: &Properties) -> anyhow::Result<Self> {
        let bytes = |k: &str, d: &str| p.get(k).unwrap_or(d).as_bytes().to_vec();
        let deserializer = |k: &str| {
            p.get(k).map(Deserializer::for_class).transpose().map_err(|e| anyhow::anyhow!(e))
        };
        Ok(Self {
            kind: FormatterKind::Default,
            key_deserializer: deserializer("key.deserializer")?,
            value_deserializer: deserializer("value.deserializer")?,
            print_timestamp: p.bool_or("print.timestamp", false)?,
            print_key: p.bool_or("print.key", false)?,
            print_offset: p.bool_or("print.offset", false)?,
            print_partition: p.bool_or("print.partition", false)?,
            print_headers: p.bool_or("print.headers", false)?,
            print_value: p.bool_or("print.value", true)?,
            key_separator: bytes("key.separator", "\t"),
            line_separator: bytes("line.separator", "\n"),
            headers_separator: bytes("headers.separator", ","),
            null_literal: bytes("null.literal", "null"),
        })
    }

    /// Writes one record exactly as the chosen formatter's `writeTo`.
    pub fn write(
        &self,
        out: &mut impl Write,
        partition: i32,
        r: &ConsumerRecord<'_>,
    ) -> Result<(), WriteError> {
        match self.kind {
            FormatterKind::NoOp => Ok(()),
            FormatterKind::Default => self.write_default(out, partition, r),
            FormatterKind::Logging => {
                self.write_default(out, partition, r)?;
                let text = |b: Option<&[u8]>| {
                    b.map_or("null".into(), |b| String::from_utf8_lossy(b).into_owned())
                };
                let timestamp = match (r.timestamp < 0, r.log_append_time) {
                    (true, _) => String::new(),
                    (false, true) => format!("LogAppendTime:{}, ", r.timestamp),
                    (false, false) => format!("CreateTime:{}, ", r.timestamp),
                };
                eprintln!(
                    "INFO {timestamp}key:{}, value:{} (org.apache.kafka.tools.consumer.LoggingMessageFormatter)",
                    text(r.record.key),
                    text(r.record.value)
                );
                Ok(())
            }
        }
    }

    /// Key or value through its deserializer; null stays null.
    fn field(
        d: Option<Deserializer>,
        data: Option<&[u8]>,
    ) -> Result<Option<std::borrow::Cow<'_, [u8]>>, WriteError> {
        match (d, data) {
            (_, None) => Ok(None),
            (None, Some(b)) => Ok(Some(b.into())),
            (Some(d), Some(b)) => {
                d.deserialize(b).map(|v| Some(v.into())).map_err(WriteError::Deserialize)
            }
        }
    }

    /// `DefaultMessageFormatter.writeTo`.
    fn write_default(
        &self,
        out: &mut impl Write,
        partition: i32,
        r: &ConsumerRecord<'_>,
    ) -> Result<(), WriteError> {
        // Deserialize first, so a bad record prints nothing at all.
        let key =
            if self.print_key { Self::field(self.key_deserializer, r.record.key)? } else { None };
        let value = if self.print_value {
            Self::field(self.value_deserializer, r.record.value)?
        } else {
            None
        };
        let sep = |out: &mut dyn Write, more: bool| {
            out.write_all(if more { &self.key_separator } else { &self.line_separator })
        };
        if self.print_timestamp {
            if r.timestamp < 0 {
                out.write_all(b"NO_TIMESTAMP")?;
            } else {
                let kind = if r.log_append_time { "LogAppendTime" } else { "CreateTime" };
                write!(out, "{kind}:{}", r.timestamp)?;
            }
            sep(
                out,
                self.print_partition
                    || self.print_offset
                    || self.print_headers
                    || self.print_key
                    || self.print_value,
            )?;
        }
        if self.print_partition {
            write!(out, "Partition:{partition}")?;
            sep(
                out,
                self.print_offset || self.print_headers || self.print_key || self.print_value,
            )?;
        }
        if self.print_offset {
            write!(out, "Offset:{}", r.offset)?;
            sep(out, self.print_headers || self.print_key || self.print_value)?;
        }
        if self.print_headers {
            let mut headers = r.record.headers().peekable();
            if headers.peek().is_none() {
                out.write_all(b"NO_HEADERS")?;
            }
            while let Some(h) = headers.next() {
                out.write_all(h.key)?;
                out.write_all(b":")?;
                out.write_all(h.value.unwrap_or(&self.null_literal))?;
                if headers.peek().is_some() {
                    out.write_all(&self.headers_separator)?;
                }
            }
            sep(out, self.print_key || self.print_value)?;
        }
        if self.print_key {
            out.write_all(key.as_deref().unwrap_or(&self.null_literal))?;
            sep(out, self.print_value)?;
        }
        if self.print_value {
            out.write_all(value.as_deref().unwrap_or(&self.null_literal))?;
            out.write_all(&self.line_separator)?;
        }
        Ok(())
    }
}

/// Flags win over properties; --from-beginning means auto.offset.reset=earliest.
fn consumer_config(
    args: &ConsoleConsumerArgs,
    props: &mut Properties,
) -> anyhow::Result<ConsumerConfig> {
    if let Some(level) = &args.isolation_level {
        props.set("isolation.level", level.clone());
    }
    if args.from_beginning {
        props.set("auto.offset.reset", "earliest");
    }
    Ok(ConsumerConfig::from_properties(props)?)
}

fn start_offset(args: &ConsoleConsumerArgs, reset: StartOffset) -> anyhow::Result<StartOffset> {
    Ok(match args.offset.as_deref() {
        None => reset,
        Some("earliest") => StartOffset::Earliest,
        Some("latest") => StartOffset::Latest,
        Some(n) => match n.parse::<i64>() {
            Ok(o) if o >= 0 => StartOffset::Offset(o),
            _ => bail!("The provided offset value '{n}' is incorrect. Valid values are 'earliest', 'latest', or a non-negative long."),
        },
    })
}

pub fn run(args: ConsoleConsumerArgs) -> anyhow::Result<()> {
    // --zookeeper finds the brokers registered there and reads through one.
    let resolved = match (&args.zookeeper, &args.bootstrap_server) {
        (Some(zk), None) => Some(super::zookeeper_bootstrap::resolve(zk)?),
        _ => args.bootstrap_server.clone(),
    };
    let include = args.include.as_ref().or(args.whitelist.as_ref());
    if args.partition.is_some() && args.topic.is_none() {
        bail!("The topic is required when partition is specified.");
    }
    if args.offset.is_some() && args.partition.is_none() {
        bail!("The partition is required when offset is specified.");
    }
    if args.offset.is_some() && args.from_beginning {
        bail!("Options from-beginning and offset cannot be specified together.");
    }
    let mut props = load_properties(args.consumer_config.as_deref(), &args.consumer_property)?;
    if args.group.is_some() && props.get("group.id").is_some() {
        bail!("Option [group] cannot be set along with group.id in the consumer properties.");
    }
    if (args.group.is_some() || props.get("group.id").is_some()) && args.partition.is_some() {
        bail!("Options group and partition cannot be specified together.");
    }
    let mut format_props = load_properties(args.formatter_config.as_deref(), &args.property)?;
    // As Kafka does: the flags become the formatter's properties.
    if let Some(d) = &args.key_deserializer {
        format_props.set("key.deserializer", d.clone());
    }
    if let Some(d) = &args.value_deserializer {
        format_props.set("value.deserializer", d.clone());
    }
    let mut formatter = Formatter::from_properties(&format_props)?;
    formatter.kind = FormatterKind::for_class(&args.formatter)?;
    let client = client_config(resolved.as_deref(), &props, "console-consumer")?;
    let config = consumer_config(&args, &mut props)?;
    let start = start_offset(&args, config.reset)?;
    let include = include.map(|r| Regex::new(&format!("^(?:{r})$"))).transpose()?;
    let rt = runtime()?;
    let mut processed = 0u64;
    let result = rt.block_on(consume(
        &args,
        include,
        client,
        config,
        &props,
        start,
        &formatter,
        &mut processed,
    ));
    eprintln!("Processed a total of {processed} messages");
    result
}

#[allow(clippy::too_many_arguments)]
async fn consume(
    args: &ConsoleConsumerArgs,
    include: Option<Regex>,
    client: crate::client::ClientConfig,
    config: ConsumerConfig,
    props: &Properties,
    start: StartOffset,
    formatter: &Formatter,
    processed: &mut u64,
) -> anyhow::Result<()> {
    let cluster = Cluster::connect(client).await?;
    let mut consumer = Consumer::new(cluster.clone(), config);
    let mut partitions = Vec::new();
    match (&args.topic, include) {
        (Some(topic), _) => match args.partition {
            Some(p) => partitions.push((topic.clone(), p)),
            None => partitions.extend(consumer.topic_partitions(topic).await?),
        },
        (None, Some(re)) => {
            let md = cluster.refresh(None, false).await?;
            for t in md.topics.values() {
                if t.error_code == 0 && !t.is_internal && re.is_match(&t.name) {
                    partitions.extend(t.partitions.iter().map(|p| (t.name.clone(), p.partition)));
                }
            }
        }
        (None, None) => bail!("Exactly one of include/topic is required."),
    }
    let group_id = args.group.clone().or_else(|| props.get("group.id").map(str::to_string));
    let mut group = match group_id {
        Some(id) => {
            let mut topics: Vec<String> = partitions.iter().map(|(t, _)| t.clone()).collect();
            topics.dedup();
            Some(
                GroupSession::join(cluster.clone(), &id, props, topics, &mut consumer, start)
                    .await?,
            )
        }
        None => {
            consumer.assign(&partitions, start).await?;
            None
        }
    };
    let result = poll_loop(args, &mut consumer, group.as_mut(), formatter, processed).await;
    if let Some(g) = group.as_mut() {
        // Commit what was printed, then let the group rebalance at once.
        let finished = g.finish().await;
        result?;
        return finished;
    }
    result
}

/// A console consumer's life in a group: the member, what it printed per
/// partition, and when it last committed.
struct GroupSession {
    member: GroupMember,
    topics: Vec<String>,
    start: StartOffset,
    auto_commit: bool,
    interval: Duration,
    last_commit: tokio::time::Instant,
    /// Next offset to commit per partition: one past the last printed record.
    consumed: BTreeMap<(String, i32), i64>,
}

impl GroupSession {
    async fn join(
        cluster: std::sync::Arc<Cluster>,
        group_id: &str,
        props: &Properties,
        topics: Vec<String>,
        consumer: &mut Consumer,
        start: StartOffset,
    ) -> anyhow::Result<GroupSession> {
        let config = GroupMemberConfig::from_properties(group_id, props)?;
        let mut s = GroupSession {
            member: GroupMember::new(cluster, config),
            topics,
            start,
            auto_commit: props.bool_or("enable.auto.commit", true)?,
            interval: Duration::from_millis(props.parse_or("auto.commit.interval.ms", 5000u64)?),
            last_commit: tokio::time::Instant::now(),
            consumed: BTreeMap::new(),
        };
        s.rejoin(consumer).await?;
        Ok(s)
    }

    /// Joins, then reads each assigned partition from its committed offset
    /// (or auto.offset.reset where there is none).
    async fn rejoin(&mut self, consumer: &mut Consumer) -> anyhow::Result<()> {
        let assigned = self.member.join(&self.topics).await?;
        consumer.assign(&assigned, self.start).await?;
        let committed = self.member.committed(&assigned).await?;
        for ((t, p), o) in &committed {
            consumer.seek(t, *p, *o);
        }
        self.consumed.retain(|tp, _| assigned.contains(tp));
        Ok(())
    }

    async fn commit(&mut self) -> anyhow::Result<()> {
        self.last_commit = tokio::time::Instant::now();
        if self.auto_commit {
            self.member.commit(&self.consumed).await?;
        }
        Ok(())
    }

    /// Between polls: commit when due, rejoin when the group rebalances.
    async fn maintain(&mut self, consumer: &mut Consumer) -> anyhow::Result<()> {
        if self.last_commit.elapsed() >= self.interval {
            self.commit().await?;
        }
        if self.member.needs_rejoin() {
            self.commit().await?;
            self.rejoin(consumer).await?;
        }
        Ok(())
    }

    async fn finish(&mut self) -> anyhow::Result<()> {
        self.commit().await?;
        self.member.leave().await?;
        Ok(())
    }
}

async fn poll_loop(
    args: &ConsoleConsumerArgs,
    consumer: &mut Consumer,
    mut group: Option<&mut GroupSession>,
    formatter: &Formatter,
    processed: &mut u64,
) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
    let idle_limit = args.timeout_ms.map(Duration::from_millis);
    let mut last_message = tokio::time::Instant::now();
    let mut interrupt = Box::pin(shutdown_signal());
    let mut stdout_closed = stdout_closed();
    loop {
        let wait = match idle_limit {
            Some(limit) => {
                let left = limit.saturating_sub(last_message.elapsed());
                if left.is_zero() {
                    return Ok(());
                }
                left.min(Duration::from_secs(1))
            }
            None => Duration::from_secs(1),
        };
        if let Some(g) = group.as_deref_mut() {
            g.maintain(consumer).await?;
        }
        let fetched = tokio::select! {
            r = consumer.poll(wait) => r?,
            _ = &mut interrupt => return Ok(()),
            _ = &mut stdout_closed => return Ok(()),
        };
        for f in &fetched {
            let mut stop = false;
            let mut last_offset = None;
            let mut failed = None;
            let result = f.for_each_record(|r| {
                *processed += 1;
                match formatter.write(&mut out, f.partition, &r) {
                    Ok(()) => {}
                    Err(WriteError::Io(e)) => return Err(e),
                    Err(WriteError::Deserialize(e)) if args.skip_message_on_error => {
                        eprintln!("ERROR Error processing message, skipping this message: {e}");
                    }
                    Err(WriteError::Deserialize(e)) => {
                        failed = Some(e);
                        return Ok(false);
                    }
                }
                last_offset = Some(r.offset);
                if args.max_messages.is_some_and(|m| *processed >= m) {
                    stop = true;
                    return Ok(false);
                }
                Ok(true)
            });
            if let (Some(g), Some(o)) = (group.as_deref_mut(), last_offset) {
                g.consumed.insert((f.topic.to_string(), f.partition), o + 1);
            }
            if let Some(e) = failed {
                out.flush()?;
                return Err(super::Failed(format!(
                    "ERROR Unknown error when running consumer: {e}"
                ))
                .into());
            }
            match result {
                Ok(ForEach::Done) => {}
                Ok(ForEach::Stopped) => {}
                Err(crate::client::Error::Io { source, .. }) => return Err(source.into()),
                Err(e) if args.skip_message_on_error => {
                    eprintln!("ERROR Error processing message, skipping this message: {e}");
                }
                Err(e) => return Err(e.into()),
            }
            if stop {
                out.flush()?;
                return Ok(());
            }
            last_message = tokio::time::Instant::now();
        }
        out.flush()?;
    }
}

/// Resolves when the reader of our stdout goes away (`| head` exited), so
/// an idle tail exits at once instead of at its next write.
fn stdout_closed() -> tokio::sync::oneshot::Receiver<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        use rustix::event::{poll, PollFd, PollFlags};
        let stdout = std::io::stdout();
        loop {
            // No events asked: poll reports only POLLERR/POLLHUP, which a
            // pipe's write end gets when its reader closes.
            let mut fds = [PollFd::new(&stdout, PollFlags::empty())];
            match poll(&mut fds, None) {
                Ok(_) if fds[0].revents().intersects(PollFlags::ERR | PollFlags::HUP) => {
                    let _ = tx.send(());
                    return;
                }
                Err(rustix::io::Errno::INTR) => continue,
                _ => {
                    // Cannot watch: keep the receiver pending forever.
                    std::mem::forget(tx);
                    return;
                }
            }
        }
    });
    rx
}

/// Ctrl-C or SIGTERM: Kafka's shutdown hook prints the count and exits.
async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchBuilder, Batches, Compression, Header, NewRecord};

    fn formatted(pairs: &[(&str, &str)], key: Option<&[u8]>, headers: &[Header<'_>]) -> String {
        let mut b = BatchBuilder::new(Compression::None).base_offset(41);
        b.push(NewRecord { timestamp: 1000, key, value: Some(b"v"), headers });
        let bytes = b.build().unwrap();
        let batch = Batches::new(&bytes).next().unwrap().unwrap();
        let records = batch.records().unwrap();
        let r = records.iter().next().unwrap().unwrap();
        let rec = ConsumerRecord { offset: 41, timestamp: 1000, log_append_time: false, record: r };
        let mut p = Properties::new();
        for (k, v) in pairs {
            p.set(*k, *v);
        }
        let mut out = Vec::new();
        let written = Formatter::from_properties(&p).unwrap().write(&mut out, 3, &rec);
        assert!(written.is_ok(), "{written:?}");
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats_like_default_message_formatter() {
        let h = [Header { key: b"h1", value: Some(b"x") }, Header { key: b"h2", value: None }];
        let all = [
            ("print.timestamp", "true"),
            ("print.partition", "true"),
            ("print.offset", "true"),
            ("print.headers", "true"),
            ("print.key", "true"),
        ];
        let cases: Vec<(Vec<(&str, &str)>, Option<&[u8]>, &[Header], &str, &str)> = vec![
            (vec![], Some(b"k"), &[], "v\n", "by default only the value"),
            (vec![("print.key", "true")], Some(b"k"), &[], "k\tv\n", "key, tab, value"),
            (vec![("print.key", "true")], None, &[], "null\tv\n", "a null key prints null.literal"),
            (
                all.to_vec(),
                Some(b"k"),
                &h,
                "CreateTime:1000\tPartition:3\tOffset:41\th1:x,h2:null\tk\tv\n",
                "Kafka's field order",
            ),
            (
                vec![("print.headers", "true")],
                None,
                &[],
                "NO_HEADERS\tv\n",
                "no headers is spelled out",
            ),
            (
                vec![("print.key", "true"), ("print.value", "false")],
                Some(b"k"),
                &[],
                "k\n",
                "the last field ends the line",
            ),
            (
                vec![("print.key", "true"), ("key.separator", " | "), ("line.separator", ";")],
                Some(b"k"),
                &[],
                "k | v;",
                "custom separators",
            ),
            (
                vec![
                    ("print.headers", "true"),
                    ("headers.separator", "|"),
                    ("null.literal", "NIL"),
                ],
                None,
                &h,
                "h1:x|h2:NIL\tv\n",
                "headers.separator and null.literal",
            ),
        ];
        for (props, key, headers, want, why) in cases {
            assert_eq!(formatted(&props, key, headers), want, "{why}");
        }
    }
}
