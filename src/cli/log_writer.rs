//! The broker's log lines are written by a thread of their own (Kafka's
//! log4j `AsyncAppender`): a tokio worker that logs hands the formatted
//! line over a channel instead of making a write(2) to stderr and another
//! to `server.log` under a lock, so no worker waits on the disk for a log
//! line, and a burst of lines (a broker taking 5,000 leaderships logs one
//! each, from up to 16 threads) costs a channel send per line.
//!
//! The thread writes through buffers and flushes them whenever the channel
//! is empty, so a line reaches its file microseconds after it was logged;
//! [`Flush`] (dropped when the server returns) waits until every line
//! logged before it is written.

use std::io::{BufWriter, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::Duration;

/// Lines waiting for the writer before a logging thread has to wait: a
/// burst of this many lines costs no write at all on the thread that logs.
const QUEUE: usize = 65_536;

/// How long [`Flush`] waits for the writer at exit.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

#[derive(Clone, Copy)]
enum Sink {
    Stderr,
    File,
}

enum Msg {
    Line(Sink, Vec<u8>),
    Flush(SyncSender<()>),
}

/// Starts the writer thread; `file` is `server.log`, when it could be
/// opened. Returns the writers for the stderr and file layers and the
/// guard that flushes at exit.
pub fn start(file: Option<std::fs::File>) -> (LineSink, Option<LineSink>, Flush) {
    let (tx, rx) = sync_channel(QUEUE);
    let has_file = file.is_some();
    let spawned =
        std::thread::Builder::new().name("log-writer".into()).spawn(move || write_lines(rx, file));
    if let Err(e) = spawned {
        // Without the thread the lines would wait forever: log directly.
        eprintln!("cannot start the log writer thread ({e}); logging to stderr only");
        return (LineSink { tx: None, sink: Sink::Stderr }, None, Flush(None));
    }
    let stderr = LineSink { tx: Some(tx.clone()), sink: Sink::Stderr };
    let file = has_file.then(|| LineSink { tx: Some(tx.clone()), sink: Sink::File });
    (stderr, file, Flush(Some(tx)))
}

fn write_lines(rx: Receiver<Msg>, file: Option<std::fs::File>) {
    let mut stderr = BufWriter::new(std::io::stderr());
    let mut file = file.map(BufWriter::new);
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Line(Sink::Stderr, line) => {
                    let _ = stderr.write_all(&line);
                }
                Msg::Line(Sink::File, line) => {
                    if let Some(f) = &mut file {
                        let _ = f.write_all(&line);
                    }
                }
                Msg::Flush(done) => {
                    flush(&mut stderr, &mut file);
                    let _ = done.send(());
                }
            }
            next = rx.try_recv().ok();
        }
        flush(&mut stderr, &mut file);
    }
}

fn flush(stderr: &mut impl Write, file: &mut Option<impl Write>) {
    let _ = stderr.flush();
    if let Some(f) = file {
        let _ = f.flush();
    }
}

/// A `MakeWriter` for one destination of the writer thread.
pub struct LineSink {
    /// `None` when the thread could not start: straight to stderr.
    tx: Option<SyncSender<Msg>>,
    sink: Sink,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LineSink {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line { to: self, buf: Vec::new() }
    }
}

/// One event's line, sent to the writer thread when the formatter is done
/// with it.
pub struct Line<'a> {
    to: &'a LineSink,
    buf: Vec<u8>,
}

impl Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line<'_> {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.buf);
        match &self.to.tx {
            Some(tx) => {
                // A full queue blocks the thread that logs rather than
                // dropping the line; a gone writer drops it (exit).
                let _ = tx.send(Msg::Line(self.to.sink, line));
            }
            None => {
                let _ = std::io::stderr().write_all(&line);
            }
        }
    }
}

/// Waits, when dropped, until every line logged before is written.
pub struct Flush(Option<SyncSender<Msg>>);

impl Drop for Flush {
    fn drop(&mut self) {
        let Some(tx) = self.0.take() else { return };
        let (done, written) = sync_channel(1);
        if tx.send(Msg::Flush(done)).is_ok() {
            let _ = written.recv_timeout(FLUSH_WAIT);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::fmt::MakeWriter;

    #[test]
    fn every_line_is_in_the_file_once_the_guard_is_dropped() {
        let log = tempfile::NamedTempFile::new().unwrap();
        let (_stderr, to_file, flush) = start(Some(log.reopen().unwrap()));
        let to_file = to_file.unwrap();
        std::thread::scope(|s| {
            for t in 0..4 {
                let to_file = &to_file;
                s.spawn(move || {
                    for i in 0..1000 {
                        let mut w = to_file.make_writer();
                        writeln!(w, "thread {t} line {i}").unwrap();
                    }
                });
            }
        });
        drop(flush);
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert_eq!(text.lines().count(), 4000);
        for t in 0..4 {
            let mine: Vec<&str> =
                text.lines().filter(|l| l.starts_with(&format!("thread {t} "))).collect();
            let want: Vec<String> = (0..1000).map(|i| format!("thread {t} line {i}")).collect();
            assert_eq!(mine, want, "one thread's lines stay in order");
        }
    }
}
