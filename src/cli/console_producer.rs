//! `kafka-rs console-producer` (kafka-console-producer.sh): one record per
//! stdin line, parsed like Kafka's `LineMessageReader`, sent through the
//! client's producer. Exits 0 only once every record is acknowledged.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use super::client_opts::{client_config, load_properties, runtime};
use crate::client::producer::{Producer, ProducerConfig, ProducerRecord};
use crate::client::Cluster;
use crate::config::Properties;
use crate::record::Header;

#[derive(Debug, Args)]
pub struct ConsoleProducerArgs {
    /// The server(s) to connect to (host:port[,host:port...]).
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap_server: Option<String>,
    /// Deprecated alias of --bootstrap-server.
    #[arg(long, value_name = "HOST:PORT")]
    pub broker_list: Option<String>,
    /// The topic to produce messages to.
    #[arg(long)]
    pub topic: String,
    /// Line reader properties: parse.key, key.separator, parse.headers,
    /// headers.delimiter, headers.separator, headers.key.separator,
    /// null.marker, ignore.error (key=value, repeatable).
    #[arg(long, value_name = "PROP=VALUE")]
    pub property: Vec<String>,
    /// Line reader properties file.
    #[arg(long, value_name = "FILE")]
    pub reader_config: Option<PathBuf>,
    /// A producer property (key=value, repeatable).
    #[arg(long, value_name = "PROP=VALUE")]
    pub producer_property: Vec<String>,
    /// Producer properties file.
    #[arg(long = "producer.config", value_name = "FILE")]
    pub producer_config: Option<PathBuf>,
    /// Compression codec: none, gzip, snappy, lz4 or zstd; given bare, gzip.
    #[arg(long, value_name = "CODEC", num_args = 0..=1, default_missing_value = "gzip")]
    pub compression_codec: Option<String>,
    /// Acks the leader waits for: 0, 1 or -1/all.
    #[arg(long, value_name = "ACKS", allow_hyphen_values = true)]
    pub request_required_acks: Option<String>,
    /// Send each message synchronously, waiting for its acknowledgement.
    #[arg(long)]
    pub sync: bool,
    /// Bytes per partition batch (batch.size).
    #[arg(long, value_name = "BYTES")]
    pub batch_size: Option<usize>,
    /// How long a batch may wait to fill, in ms (linger.ms).
    #[arg(long, value_name = "MS")]
    pub timeout: Option<u64>,
    /// Retries of a failed send before the message is reported as failed.
    #[arg(long, value_name = "N")]
    pub message_send_max_retries: Option<u32>,
    /// Wait before each retry, in ms.
    #[arg(long, value_name = "MS")]
    pub retry_backoff_ms: Option<u64>,
    /// How long a request may take, in ms.
    #[arg(long, value_name = "MS")]
    pub request_timeout_ms: Option<u64>,
    /// How long to wait for the topic's metadata, in ms.
    #[arg(long, value_name = "MS")]
    pub max_block_ms: Option<u64>,
}

/// Kafka's `LineMessageReader` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineFormat {
    pub parse_key: bool,
    pub key_separator: String,
    pub parse_headers: bool,
    pub headers_delimiter: String,
    pub headers_separator: String,
    pub headers_key_separator: String,
    pub null_marker: Option<String>,
    pub ignore_error: bool,
}

impl LineFormat {
    pub fn from_properties(p: &Properties) -> anyhow::Result<Self> {
        let f = LineFormat {
            parse_key: p.bool_or("parse.key", false)?,
            key_separator: p.get("key.separator").unwrap_or("\t").to_string(),
            parse_headers: p.bool_or("parse.headers", false)?,
            headers_delimiter: p.get("headers.delimiter").unwrap_or("\t").to_string(),
            headers_separator: p.get("headers.separator").unwrap_or(",").to_string(),
            headers_key_separator: p.get("headers.key.separator").unwrap_or(":").to_string(),
            null_marker: p.get("null.marker").filter(|m| !m.is_empty()).map(str::to_string),
            ignore_error: p.bool_or("ignore.error", false)?,
        };
        for (name, sep) in [
            ("key.separator", &f.key_separator),
            ("headers.delimiter", &f.headers_delimiter),
            ("headers.separator", &f.headers_separator),
            ("headers.key.separator", &f.headers_key_separator),
        ] {
            if sep.is_empty() {
                bail!("{name} must not be empty");
            }
        }
        if let Some(m) = &f.null_marker {
            if f.parse_key && *m == f.key_separator {
                bail!("null.marker and key.separator may not be equal");
            }
        }
        Ok(f)
    }
}

/// One parsed line, borrowing from it.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedLine<'a> {
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Vec<Header<'a>>,
}

/// Parses a line as `LineMessageReader` does: `[headers<delim>][key<sep>]value`.
pub fn parse_line<'a>(
    f: &LineFormat,
    line: &'a [u8],
    number: u64,
) -> anyhow::Result<ParsedLine<'a>> {
    let shown = || String::from_utf8_lossy(line).into_owned();
    let marker = f.null_marker.clone();
    let is_null = move |s: &[u8]| marker.as_deref().is_some_and(|m| m.as_bytes() == s);
    let mut rest = line;
    let mut headers = Vec::new();
    if f.parse_headers {
        match find(rest, f.headers_delimiter.as_bytes()) {
            Some(i) => {
                let raw = &rest[..i];
                rest = &rest[i + f.headers_delimiter.len()..];
                if !raw.is_empty() {
                    for h in split(raw, f.headers_separator.as_bytes()) {
                        let (k, v) = match find(h, f.headers_key_separator.as_bytes()) {
                            Some(j) => (&h[..j], Some(&h[j + f.headers_key_separator.len()..])),
                            None => (h, None),
                        };
                        if is_null(k) {
                            bail!(
                                "Header keys should not be equal to the null marker '{}' as they can't be null",
                                f.null_marker.as_deref().unwrap_or_default()
                            );
                        }
                        headers.push(Header { key: k, value: v.filter(|v| !is_null(v)) });
                    }
                }
            }
            None if f.ignore_error => {}
            None => bail!("No headers delimiter found on line number {number}: '{}'", shown()),
        }
    }
    let (key, value) = if f.parse_key {
        match find(rest, f.key_separator.as_bytes()) {
            Some(i) => (Some(&rest[..i]), &rest[i + f.key_separator.len()..]),
            None if f.ignore_error => (None, rest),
            None => bail!("No key separator found on line number {number}: '{}'", shown()),
        }
    } else {
        (None, rest)
    };
    Ok(ParsedLine {
        key: key.filter(|k| !is_null(k)),
        value: Some(value).filter(|v| !is_null(v)),
        headers,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() == 1 {
        return hay.iter().position(|&b| b == needle[0]);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(mut s: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    while let Some(i) = find(s, sep) {
        out.push(&s[..i]);
        s = &s[i + sep.len()..];
    }
    out.push(s);
    out
}

/// Kafka's precedence: an explicit flag wins, then the properties, then
/// the console producer's own defaults (which differ from the client's).
fn effective_properties(args: &ConsoleProducerArgs, props: &mut Properties) {
    let explicit = [
        ("acks", args.request_required_acks.clone()),
        ("compression.type", args.compression_codec.clone()),
        ("batch.size", args.batch_size.map(|v| v.to_string())),
        ("linger.ms", args.timeout.map(|v| v.to_string())),
        ("retries", args.message_send_max_retries.map(|v| v.to_string())),
        ("retry.backoff.ms", args.retry_backoff_ms.map(|v| v.to_string())),
        ("request.timeout.ms", args.request_timeout_ms.map(|v| v.to_string())),
        ("max.block.ms", args.max_block_ms.map(|v| v.to_string())),
    ];
    for (key, value) in explicit {
        if let Some(v) = value {
            props.set(key, v);
        }
    }
    let defaults =
        [("acks", "-1"), ("linger.ms", "1000"), ("retries", "3"), ("request.timeout.ms", "1500")];
    for (key, value) in defaults {
        if props.get(key).is_none() {
            props.set(key, value);
        }
    }
    if args.sync {
        props.set("linger.ms", "0");
    }
}

pub fn run(args: ConsoleProducerArgs) -> anyhow::Result<()> {
    let mut props = load_properties(args.producer_config.as_deref(), &args.producer_property)?;
    effective_properties(&args, &mut props);
    let reader_props = load_properties(args.reader_config.as_deref(), &args.property)?;
    let format = LineFormat::from_properties(&reader_props)?;
    let bootstrap = args.bootstrap_server.as_deref().or(args.broker_list.as_deref());
    let client = client_config(bootstrap, &props, "console-producer")?;
    let config = ProducerConfig::from_properties(&props)?;
    let rt = runtime()?;
    rt.block_on(produce(&args.topic, client, config, format, args.sync))
}

/// Stdin arrives from a reader thread in chunks of whole lines, so the
/// async side never blocks and handles many lines per wake-up.
fn spawn_stdin_reader(tx: tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>) {
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            // Kafka's prompt, one line at a time.
            let mut lock = stdin.lock();
            loop {
                print!(">");
                let _ = std::io::stdout().flush();
                let mut line = Vec::new();
                match lock.read_until(b'\n', &mut line) {
                    Ok(0) => return,
                    Ok(_) => {
                        if tx.blocking_send(Ok(line)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
        }
        let mut lock = stdin.lock();
        let mut carry: Vec<u8> = Vec::new();
        loop {
            let mut buf = std::mem::take(&mut carry);
            let start = buf.len();
            buf.resize(start + 256 * 1024, 0);
            match lock.read(&mut buf[start..]) {
                Ok(0) => {
                    buf.truncate(start);
                    if !buf.is_empty() {
                        let _ = tx.blocking_send(Ok(buf));
                    }
                    return;
                }
                Ok(n) => {
                    buf.truncate(start + n);
                    // Hand over whole lines; keep the partial tail.
                    match buf.iter().rposition(|&b| b == b'\n') {
                        Some(i) => {
                            carry = buf.split_off(i + 1);
                            if tx.blocking_send(Ok(buf)).is_err() {
                                return;
                            }
                        }
                        None => carry = buf,
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    carry = buf[..start].to_vec()
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
}

async fn produce(
    topic: &str,
    client: crate::client::ClientConfig,
    config: ProducerConfig,
    format: LineFormat,
    sync: bool,
) -> anyhow::Result<()> {
    let cluster = Cluster::connect(client).await?;
    let mut producer = Producer::new(cluster, config).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    spawn_stdin_reader(tx);
    let mut line_number: u64 = 0;
    let mut failed: u64 = 0;
    let mut parse_error = None;
    'read: loop {
        let deadline = producer.linger_deadline();
        let chunk = tokio::select! {
            chunk = rx.recv() => chunk,
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => {
                producer.send_lingering().await?;
                failed += report(&mut producer);
                continue;
            }
        };
        let Some(chunk) = chunk else { break };
        let chunk = chunk.context("cannot read stdin")?;
        for line in chunk.split_inclusive(|&b| b == b'\n') {
            line_number += 1;
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let parsed = match parse_line(&format, line, line_number) {
                Ok(p) => p,
                Err(e) => {
                    parse_error = Some(e);
                    break 'read;
                }
            };
            let record = ProducerRecord {
                key: parsed.key,
                value: parsed.value,
                headers: &parsed.headers,
                timestamp: None,
                partition: None,
            };
            producer.send(topic, record, line_number).await?;
            if sync {
                producer.flush().await?;
            }
        }
        failed += report(&mut producer);
    }
    producer.flush().await?;
    failed += report(&mut producer);
    if let Some(e) = parse_error {
        return Err(e);
    }
    if failed > 0 {
        bail!("{failed} of {line_number} messages were not delivered to topic {topic}");
    }
    Ok(())
}

/// Prints each failed record with its line number; returns how many.
fn report(producer: &mut Producer) -> u64 {
    let failures = producer.take_failures();
    let mut stderr = std::io::stderr().lock();
    for f in &failures {
        let _ = writeln!(
            stderr,
            "Error when sending message to topic {} from line {} with error: {}",
            f.topic, f.tag, f.error
        );
    }
    failures.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(pairs: &[(&str, &str)]) -> LineFormat {
        let mut p = Properties::new();
        for (k, v) in pairs {
            p.set(*k, *v);
        }
        LineFormat::from_properties(&p).unwrap()
    }

    #[test]
    fn lines_parse_like_line_message_reader() {
        let plain = format(&[]);
        let keyed = format(&[("parse.key", "true"), ("key.separator", ":")]);
        let full =
            format(&[("parse.key", "true"), ("parse.headers", "true"), ("null.marker", "NULL")]);
        let lenient = format(&[("parse.key", "true"), ("ignore.error", "true")]);
        type Case<'a> = (
            &'a LineFormat,
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            Vec<(&'a str, Option<&'a str>)>,
            &'a str,
        );
        let cases: Vec<Case> = vec![
            (
                &plain,
                "a\tb",
                None,
                Some("a\tb"),
                vec![],
                "without parse.key the whole line is the value",
            ),
            (
                &keyed,
                "k:v:w",
                Some("k"),
                Some("v:w"),
                vec![],
                "the key ends at the first separator",
            ),
            (
                &full,
                "h1:v1,h2\tk\tv",
                Some("k"),
                Some("v"),
                vec![("h1", Some("v1")), ("h2", None)],
                "a header without separator has a null value",
            ),
            (&full, "\tNULL\tv", None, Some("v"), vec![], "null.marker makes the key null"),
            (
                &full,
                "h:NULL\tk\tNULL",
                Some("k"),
                None,
                vec![("h", None)],
                "null.marker nulls values and header values",
            ),
            (
                &lenient,
                "no separator",
                None,
                Some("no separator"),
                vec![],
                "ignore.error keeps the line as value",
            ),
        ];
        for (f, line, key, value, headers, why) in cases {
            let p = parse_line(f, line.as_bytes(), 1).unwrap();
            assert_eq!(p.key, key.map(str::as_bytes), "{why}");
            assert_eq!(p.value, value.map(str::as_bytes), "{why}");
            let got: Vec<_> = p.headers.iter().map(|h| (h.key, h.value)).collect();
            let want: Vec<_> =
                headers.iter().map(|(k, v)| (k.as_bytes(), v.map(str::as_bytes))).collect();
            assert_eq!(got, want, "{why}");
        }
    }

    #[test]
    fn malformed_lines_name_their_line_number() {
        let keyed = format(&[("parse.key", "true")]);
        let e = parse_line(&keyed, b"nokey", 7).unwrap_err().to_string();
        assert_eq!(e, "No key separator found on line number 7: 'nokey'");
        let headers = format(&[("parse.headers", "true")]);
        let e = parse_line(&headers, b"x", 3).unwrap_err().to_string();
        assert_eq!(e, "No headers delimiter found on line number 3: 'x'");
    }

    #[test]
    fn flags_override_properties_which_override_console_defaults() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: ConsoleProducerArgs,
        }
        let cli = Cli::parse_from(["x", "--topic", "t", "--timeout", "7", "--compression-codec"]);
        let mut props = Properties::new();
        props.set("linger.ms", "50");
        props.set("retries", "9");
        effective_properties(&cli.args, &mut props);
        assert_eq!(props.get("linger.ms"), Some("7"), "the flag wins over the property");
        assert_eq!(props.get("retries"), Some("9"), "the property wins over the default");
        assert_eq!(
            props.get("compression.type"),
            Some("gzip"),
            "a bare --compression-codec is gzip"
        );
        assert_eq!(props.get("request.timeout.ms"), Some("1500"), "the console default");
    }
}
