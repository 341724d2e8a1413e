//! The two file tasks. Each runs on its own tokio task until told to stop,
//! committing at `offset.flush.interval.ms` and once more on a clean stop.
//!
//! Delivery is at least once, as in Kafka: a source task commits a file
//! position only after every record before it was acknowledged by the
//! broker, and a sink task commits consumer offsets only after the lines
//! before them were flushed to its file. After a crash the records since the
//! last commit are sent (or written) again: duplicates, never gaps.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::client::consumer::{Consumer, ConsumerConfig, StartOffset};
use crate::client::group_member::{GroupMember, GroupMemberConfig};
use crate::client::producer::{Producer, ProducerConfig, ProducerRecord};
use crate::client::Cluster;
use crate::config::Properties;

use super::converter::{Converter, Data};
use super::error::{Error, Result};
use super::offsets::OffsetStore;
use super::plugins::Config;

/// What a task needs from its worker.
pub struct TaskEnv {
    pub cluster: Arc<Cluster>,
    pub worker_config: Config,
    pub offsets: Arc<OffsetStore>,
    pub flush_interval: Duration,
}

pub struct TaskContext {
    pub connector: String,
    pub id: u32,
    pub config: Config,
    /// The connector's config, for converter overrides.
    pub connector_config: Config,
    pub env: Arc<TaskEnv>,
    pub stop: watch::Receiver<bool>,
}

const READ_CHUNK: usize = 1024 * 1024;
const TAIL_POLL: Duration = Duration::from_millis(100);

/// Client settings from the worker's `prefix.*` keys (`producer.`,
/// `consumer.`), over the defaults Connect gives its clients.
fn client_props(worker: &Config, prefix: &str, defaults: &[(&str, &str)]) -> Properties {
    let mut p = Properties::new();
    for (k, v) in defaults {
        p.set(*k, *v);
    }
    for (k, v) in worker {
        if let Some(k) = k.strip_prefix(prefix) {
            p.set(k, v.as_str());
        }
    }
    p
}

fn stopped(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow()
}

/// Sleeps `d` unless a stop comes first; returns whether to stop.
async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => stopped(stop),
        _ = stop.changed() => true,
    }
}

enum Input {
    File { path: PathBuf, file: Option<tokio::fs::File> },
    Stdin(tokio::io::Stdin),
}

/// Each task gets connections of its own, as each of Kafka's tasks has its
/// own clients: a broker answers a connection's requests in order, so a
/// sink's long poll on a shared connection would hold back a source's
/// produce (and the fetch would wait for the records that produce brings).
async fn own_cluster(env: &TaskEnv, client_id: String) -> Result<Arc<Cluster>> {
    let mut config = env.cluster.config().clone();
    config.client_id = client_id;
    Ok(Cluster::connect(config).await?)
}

/// FileStreamSourceTask: one record per line of `file` (or stdin), the
/// value a string, the key null; the offset is the byte position after the
/// last line sent, under the partition `{"filename": file}`.
pub async fn run_source(mut ctx: TaskContext) -> Result<()> {
    let env = ctx.env.clone();
    let topic = ctx
        .config
        .get("topic")
        .cloned()
        .ok_or_else(|| Error::Config("Missing required configuration \"topic\"".into()))?;
    let batch_size: usize =
        ctx.config.get("batch.size").and_then(|v| v.trim().parse().ok()).unwrap_or(2000).max(1);
    let key_converter =
        Converter::configure("key.converter", &ctx.connector_config, &env.worker_config)?;
    let value_converter =
        Converter::configure("value.converter", &ctx.connector_config, &env.worker_config)?;
    let props = client_props(
        &env.worker_config,
        "producer.",
        &[("acks", "all"), ("max.in.flight.requests.per.connection", "1"), ("linger.ms", "0")],
    );
    let producer_config = ProducerConfig::from_properties(&props)?;
    let cluster =
        own_cluster(&env, format!("connector-producer-{}-{}", ctx.connector, ctx.id)).await?;
    let mut producer = Producer::new(cluster, producer_config).await?;
    let key = key_converter.from_connect(&Data::Null)?;

    let (mut input, partition) =
        match ctx.config.get("file").map(|f| f.trim()).filter(|f| !f.is_empty()) {
            Some(f) => {
                let path = PathBuf::from(f);
                (Input::File { path, file: None }, Some(json!({ "filename": f })))
            }
            None => (Input::Stdin(tokio::io::stdin()), None),
        };
    env.offsets.refresh().await?;
    let mut position: u64 = partition
        .as_ref()
        .and_then(|p| env.offsets.get(&ctx.connector, p))
        .and_then(|o| o.get("position").and_then(Value::as_u64))
        .unwrap_or(0);
    if position > 0 {
        tracing::info!("{}-{}: resuming at position {position}", ctx.connector, ctx.id);
    }
    let mut committed = position;
    // Lines are split where they were read: `buf[start..end]` holds what
    // is read but not yet sent, and only a partial last line moves (to the
    // front) before the next read.
    let mut buf = vec![0u8; READ_CHUNK];
    let (mut start, mut end) = (0usize, 0usize);
    let mut next_commit = Instant::now() + env.flush_interval;
    let mut warned = false;
    let mut eof = false;
    // One poll's lines: where each value is, in `buf` or (when the
    // converter changes it) in `converted`.
    let mut values: Vec<LineValue> = Vec::with_capacity(batch_size.min(READ_CHUNK));
    let mut converted: Vec<Option<Vec<u8>>> = Vec::new();

    let commit = Committer {
        env: env.clone(),
        connector: ctx.connector.clone(),
        topic: topic.clone(),
        partition,
    };
    loop {
        if stopped(&ctx.stop) {
            break;
        }
        if Instant::now() >= next_commit {
            commit.run(&mut producer, position, &mut committed).await?;
            next_commit = Instant::now() + env.flush_interval;
        }
        let n = match &mut input {
            Input::Stdin(stdin) => {
                if eof {
                    if pause(&mut ctx.stop, TAIL_POLL).await {
                        break;
                    }
                    continue;
                }
                tokio::select! {
                    r = stdin.read(room(&mut buf, &mut start, &mut end)) => r.map_err(|e| Error::io("cannot read stdin", e))?,
                    _ = ctx.stop.changed() => break,
                }
            }
            Input::File { path, file } => {
                if file.is_none() {
                    match tokio::fs::File::open(&*path).await {
                        Ok(mut f) => {
                            f.seek(std::io::SeekFrom::Start(position)).await.map_err(|e| {
                                Error::io(format!("cannot seek in {}", path.display()), e)
                            })?;
                            tracing::info!(
                                "{}-{}: reading {} from position {position}",
                                ctx.connector,
                                ctx.id,
                                path.display()
                            );
                            *file = Some(f);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            if !warned {
                                tracing::warn!(
                                    "Couldn't find file {} for FileStreamSourceTask, sleeping to wait for it to be created",
                                    path.display()
                                );
                                warned = true;
                            }
                            if pause(&mut ctx.stop, Duration::from_secs(1)).await {
                                break;
                            }
                            continue;
                        }
                        Err(e) => {
                            return Err(Error::io(format!("cannot open {}", path.display()), e))
                        }
                    }
                }
                let f = file.as_mut().expect("opened above");
                f.read(room(&mut buf, &mut start, &mut end))
                    .await
                    .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?
            }
        };
        if n == 0 {
            eof = matches!(input, Input::Stdin(_));
            // Nothing more to read: waiting for the acknowledgements now
            // costs nothing, while polling for them would cost a tail
            // poll per request.
            producer.flush().await?;
            producer_failure(&mut producer, &topic)?;
            let wait = TAIL_POLL.min(next_commit.saturating_duration_since(Instant::now()));
            if pause(&mut ctx.stop, wait).await {
                break;
            }
            continue;
        }
        end += n;
        let mut line_start = start;
        let mut lines = memchr::memchr_iter(b'\n', &buf[start..end]).map(|nl| start + nl);
        loop {
            // Kafka's task hands the worker `batch.size` records per poll
            // and the producer sends them when the connection is free;
            // sealing a request at every poll instead would cap requests
            // at `batch.size` lines and queue them one round trip apart.
            values.clear();
            converted.clear();
            for nl in lines.by_ref().take(batch_size) {
                let line = &buf[line_start..nl];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let value = match value_converter.same_bytes(Some(line)) {
                    Some(_) => LineValue::Line(line_start, line_start + line.len()),
                    None => {
                        let text = String::from_utf8_lossy(line);
                        converted
                            .push(value_converter.from_connect(&Data::String(text.into_owned()))?);
                        LineValue::Converted(converted.len() - 1)
                    }
                };
                values.push(value);
                line_start = nl + 1;
            }
            if values.is_empty() {
                break;
            }
            let records: Vec<ProducerRecord<'_>> = values
                .iter()
                .map(|v| ProducerRecord {
                    key: key.as_deref(),
                    value: match *v {
                        LineValue::Line(a, b) => Some(&buf[a..b]),
                        LineValue::Converted(i) => converted[i].as_deref(),
                    },
                    ..Default::default()
                })
                .collect();
            producer.send_many(&topic, &records, 0).await?;
            if values.len() == batch_size {
                producer.send_ready().await?;
            }
        }
        position += (line_start - start) as u64;
        start = line_start;
        if start == end {
            (start, end) = (0, 0);
        }
        match input {
            Input::File { .. } => producer.send_ready().await?,
            // The next read from stdin may wait for input as long as it
            // likes: what was read goes out (and is acknowledged) first.
            Input::Stdin(_) => producer.flush().await?,
        }
        producer_failure(&mut producer, &topic)?;
    }
    commit.run(&mut producer, position, &mut committed).await
}

/// Where a source record's value is.
enum LineValue {
    /// `buf[start..end]`: the line itself.
    Line(usize, usize),
    /// The line as the converter wrote it.
    Converted(usize),
}

/// The free tail of `buf` to read into: a partial line left at the end
/// moves to the front first, and a line longer than the whole buffer
/// doubles it (growing with what was read, never with a length from the
/// file).
fn room<'a>(buf: &'a mut Vec<u8>, start: &mut usize, end: &mut usize) -> &'a mut [u8] {
    if *end == buf.len() {
        if *start > 0 {
            buf.copy_within(*start..*end, 0);
            *end -= *start;
            *start = 0;
        } else {
            buf.resize(buf.len() * 2, 0);
        }
    }
    &mut buf[*end..]
}

fn producer_failure(producer: &mut Producer, topic: &str) -> Result<()> {
    match producer.take_failures().into_iter().next() {
        Some(f) => Err(Error::Data(format!(
            "Unrecoverable exception from producer send callback: failed to send to topic {topic}: {}",
            f.error
        ))),
        None => Ok(()),
    }
}

/// Commits a source position once everything before it is acknowledged.
struct Committer {
    env: Arc<TaskEnv>,
    connector: String,
    topic: String,
    partition: Option<Value>,
}

impl Committer {
    async fn run(&self, producer: &mut Producer, position: u64, committed: &mut u64) -> Result<()> {
        producer.flush().await?;
        producer_failure(producer, &self.topic)?;
        if let Some(p) = self.partition.clone().filter(|_| position != *committed) {
            self.env
                .offsets
                .commit(&self.connector, &[(p, Some(json!({ "position": position })))])
                .await?;
        }
        *committed = position;
        Ok(())
    }
}

/// FileStreamSinkTask: every record of `topics` (or `topics.regex`),
/// converted by the value converter, appended as a line to `file` (or
/// stdout); the consumer group `connect-NAME` shares the partitions between
/// the connector's tasks and keeps its offsets.
pub async fn run_sink(mut ctx: TaskContext) -> Result<()> {
    let env = ctx.env.clone();
    let value_converter =
        Converter::configure("value.converter", &ctx.connector_config, &env.worker_config)?;
    // Validated like Kafka's: a bad key converter fails the task even though
    // the file sink writes values only.
    Converter::configure("key.converter", &ctx.connector_config, &env.worker_config)?;
    let topics_list: Vec<String> = ctx
        .config
        .get("topics")
        .map(|t| crate::config::list(t).map(str::to_string).collect())
        .unwrap_or_default();
    let regex = match ctx.config.get("topics.regex").map(|r| r.trim()).filter(|r| !r.is_empty()) {
        Some(r) => Some(regex::Regex::new(&format!("^(?:{r})$")).map_err(|e| {
            Error::Config(format!("Invalid value {r} for configuration topics.regex: {e}"))
        })?),
        None => None,
    };
    let group = format!("connect-{}", ctx.connector);
    let props = client_props(
        &env.worker_config,
        "consumer.",
        &[("auto.offset.reset", "earliest"), ("session.timeout.ms", "10000")],
    );
    let consumer_config = ConsumerConfig::from_properties(&props)?;
    let member_config = GroupMemberConfig::from_properties(&group, &props)?;
    let cluster =
        own_cluster(&env, format!("connector-consumer-{}-{}", ctx.connector, ctx.id)).await?;
    let mut member = GroupMember::new(cluster.clone(), member_config);
    let mut consumer = Consumer::new(cluster.clone(), consumer_config);

    let mut out: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = match ctx
        .config
        .get("file")
        .map(|f| f.trim())
        .filter(|f| !f.is_empty())
    {
        Some(f) => Box::new(
            tokio::fs::OpenOptions::new().create(true).append(true).open(f).await.map_err(|e| {
                Error::io(format!("Couldn't find or create file '{f}' for FileStreamSinkTask"), e)
            })?,
        ),
        None => Box::new(tokio::io::stdout()),
    };
    let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, &mut out);

    let topics = |cluster: Arc<Cluster>| {
        let topics_list = topics_list.clone();
        let regex = regex.clone();
        async move {
            match regex {
                None => Ok::<Vec<String>, Error>(topics_list),
                Some(re) => {
                    let md = cluster.refresh(None, false).await?;
                    Ok(md.topics.keys().filter(|t| re.is_match(t)).cloned().collect())
                }
            }
        }
    };
    let mut subscribed = topics(cluster.clone()).await?;
    let mut consumed: BTreeMap<(String, i32), i64> = BTreeMap::new();
    join(&mut member, &mut consumer, &subscribed, &mut consumed).await?;
    let mut next_commit = Instant::now() + env.flush_interval;
    let mut next_topic_check = Instant::now() + Duration::from_secs(5);
    let mut line = Vec::new();
    loop {
        if stopped(&ctx.stop) {
            break;
        }
        let wait =
            Duration::from_millis(500).min(next_commit.saturating_duration_since(Instant::now()));
        let fetched = tokio::select! {
            f = consumer.poll(wait) => f?,
            _ = ctx.stop.changed() => break,
        };
        for f in &fetched {
            let topic = f.topic.clone();
            let mut failure = None;
            let mut last = None;
            f.for_each_record(|r| match value_converter.same_bytes(r.record.value) {
                Some(text) => {
                    line.extend_from_slice(text);
                    line.push(b'\n');
                    last = Some(r.offset);
                    Ok(true)
                }
                None => match value_converter.to_connect(&topic, r.record.value) {
                    Ok(data) => {
                        line.extend_from_slice(&data.to_line());
                        line.push(b'\n');
                        last = Some(r.offset);
                        Ok(true)
                    }
                    Err(e) => {
                        failure = Some(e);
                        Ok(false)
                    }
                },
            })?;
            out.write_all(&line).await.map_err(|e| Error::io("cannot write the sink file", e))?;
            line.clear();
            if let Some(o) = last {
                consumed.insert((topic.to_string(), f.partition), o + 1);
            }
            if let Some(e) = failure {
                // Lines before the bad record are kept and committed.
                let _ = flush_and_commit(&mut out, &mut member, &consumed).await;
                // Leave now so the partitions can be reset or reassigned
                // without waiting for the session to expire.
                let _ = member.leave().await;
                return Err(Error::Data(format!("Tolerance exceeded in error handler: {e}")));
            }
        }
        // Lines show up in the file once the sink has caught up with its
        // partitions (as with Kafka's unbuffered PrintStream, a little
        // later while a backlog streams in, when waiting for each write
        // would hold back the next fetch's lines); the offsets wait for
        // the commit.
        let caught_up = fetched.iter().all(|f| {
            consumer.position(&f.topic, f.partition).is_some_and(|p| p >= f.high_watermark)
        });
        if caught_up {
            out.flush().await.map_err(|e| Error::io("cannot write the sink file", e))?;
        }
        if Instant::now() >= next_commit {
            flush_and_commit(&mut out, &mut member, &consumed).await?;
            next_commit = Instant::now() + env.flush_interval;
        }
        let mut rejoin = member.needs_rejoin();
        if regex.is_some() && Instant::now() >= next_topic_check {
            next_topic_check = Instant::now() + Duration::from_secs(5);
            let now = topics(cluster.clone()).await?;
            if now != subscribed {
                subscribed = now;
                rejoin = true;
            }
        }
        if rejoin {
            flush_and_commit(&mut out, &mut member, &consumed).await?;
            join(&mut member, &mut consumer, &subscribed, &mut consumed).await?;
        }
    }
    flush_and_commit(&mut out, &mut member, &consumed).await?;
    let _ = member.leave().await;
    Ok(())
}

async fn flush_and_commit<W: tokio::io::AsyncWrite + Unpin>(
    out: &mut W,
    member: &mut GroupMember,
    consumed: &BTreeMap<(String, i32), i64>,
) -> Result<()> {
    out.flush().await.map_err(|e| Error::io("cannot flush the sink file", e))?;
    match member.commit(consumed).await {
        Ok(()) => Ok(()),
        // The coordinator moved (a broker restarted, leadership changed):
        // the next commit carries these offsets too, and the failed
        // heartbeat makes the member find the new coordinator.
        Err(e) if e.is_retriable() => {
            tracing::warn!("Offset commit failed, retrying at the next commit: {e}");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// (Re)joins the group and points the consumer at the committed offsets
/// of the partitions it now owns (earliest where none were committed).
async fn join(
    member: &mut GroupMember,
    consumer: &mut Consumer,
    topics: &[String],
    consumed: &mut BTreeMap<(String, i32), i64>,
) -> Result<()> {
    let owned = member.join(topics).await?;
    tracing::info!(
        "{}: joined at generation {}, assigned {owned:?}",
        member.group_id(),
        member.generation()
    );
    consumed.retain(|k, _| owned.contains(k));
    consumer.assign(&owned, StartOffset::Earliest).await?;
    let committed = member.committed(&owned).await?;
    for ((t, p), o) in committed {
        consumer.seek(&t, p, o);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::room;

    /// Splits `input` the way the source task does, reading at most
    /// `read` bytes at a time into a buffer of `cap` bytes.
    fn split(input: &[u8], cap: usize, read: usize) -> (Vec<Vec<u8>>, u64) {
        let mut buf = vec![0u8; cap];
        let (mut start, mut end) = (0usize, 0usize);
        let (mut lines, mut position, mut at) = (Vec::new(), 0u64, 0usize);
        while at < input.len() {
            let free = room(&mut buf, &mut start, &mut end);
            let n = free.len().min(read).min(input.len() - at);
            free[..n].copy_from_slice(&input[at..at + n]);
            at += n;
            end += n;
            let mut line_start = start;
            for nl in memchr::memchr_iter(b'\n', &buf[start..end]) {
                lines.push(buf[line_start..start + nl].to_vec());
                line_start = start + nl + 1;
            }
            position += (line_start - start) as u64;
            start = line_start;
            if start == end {
                (start, end) = (0, 0);
            }
        }
        (lines, position)
    }

    #[test]
    fn lines_split_in_place_across_reads_and_longer_than_the_buffer() {
        let input = b"a\nbb\n\nlonger than eight\nccc\npartial";
        for (cap, read) in [(8, 3), (8, 8), (4, 1), (64, 64)] {
            let (lines, position) = split(input, cap, read);
            let want: Vec<&[u8]> = vec![b"a", b"bb", b"", b"longer than eight", b"ccc"];
            assert_eq!(lines, want, "buffer {cap}, reads of {read}");
            assert_eq!(position, (input.len() - b"partial".len()) as u64, "the partial line waits");
        }
    }
}
