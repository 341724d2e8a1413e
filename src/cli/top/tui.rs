//! The full-screen view: a collector thread gathers a snapshot every
//! interval while this thread draws and reads keys, so a slow or dead
//! broker never freezes the keyboard.
//!
//! The terminal is put back (raw mode off, main screen, cursor shown) by a
//! guard on every way out: q, Ctrl-C, SIGTERM/SIGHUP/SIGINT, an error, and a
//! panic (through the panic hook, since a panic may not unwind through us).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::Context;
use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::style::{
    Attribute, Color, Print, SetAttribute, SetBackgroundColor, SetForegroundColor,
};
use crossterm::{cursor, queue, terminal};
use regex::Regex;

use super::render::{self, Mark, Table};
use super::snapshot::{Collector, Snapshot};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pane {
    Brokers,
    Topics,
    Partitions,
    Groups,
}

const PANES: [Pane; 4] = [Pane::Brokers, Pane::Topics, Pane::Partitions, Pane::Groups];

impl Pane {
    fn index(self) -> usize {
        PANES.iter().position(|p| *p == self).unwrap_or(0)
    }

    fn title(self) -> &'static str {
        match self {
            Pane::Brokers => "1 Brokers",
            Pane::Topics => "2 Topics",
            Pane::Partitions => "3 Partitions",
            Pane::Groups => "4 Groups",
        }
    }
}

const HELP: &[&str] = &[
    "kafka-rs top: keys",
    "",
    "  1 2 3 4, Tab, Left/Right   switch pane: brokers, topics, partitions, groups",
    "  Up/Down, j/k, PgUp/PgDn    move the selection (Home/End, g/G: first/last)",
    "  Enter                      on a topic: show its partitions",
    "  s / r                      sort by the next column / reverse the order",
    "  /                          filter rows by a regex (Enter applies, empty clears)",
    "  Esc                        close help, cancel the filter, show all partitions",
    "  p or Space                 pause / resume refreshing",
    "  ? or h                     this help",
    "  q or Ctrl-C                quit",
    "",
    "Rows in yellow are under-replicated, in red offline (or a broker down).",
    "RECORDS-IN/S and BYTES-IN/S come from high watermark and log size deltas;",
    "RECORDS-OUT/S and BYTES-OUT/S from the consumer groups' committed offsets.",
];

/// Puts the terminal back when dropped; `restore` is safe to call twice.
struct TerminalGuard;

fn restore() {
    let mut out = std::io::stdout();
    let _ = crossterm::execute!(
        out,
        SetAttribute(Attribute::Reset),
        cursor::Show,
        terminal::LeaveAlternateScreen
    );
    let _ = terminal::disable_raw_mode();
    let _ = out.flush();
}

impl TerminalGuard {
    fn enter() -> anyhow::Result<Self> {
        terminal::enable_raw_mode().context("cannot switch the terminal to raw mode")?;
        let guard = TerminalGuard;
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        crossterm::execute!(std::io::stdout(), terminal::EnterAlternateScreen, cursor::Hide)
            .context("cannot set up the terminal")?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Sets `flag` on SIGTERM, SIGHUP or SIGINT, so the loop exits through the guard.
fn watch_signals(flag: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(rt) = super::super::client_opts::runtime() else { return };
        rt.block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut hup), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
                signal(SignalKind::interrupt()),
            ) else {
                return;
            };
            let signo = tokio::select! {
                _ = term.recv() => 15,
                _ = hup.recv() => 1,
                _ = int.recv() => 2,
            };
            flag.store(true, Ordering::SeqCst);
            // When the terminal has hung up, crossterm's poll can spin on
            // the failing read and never return to the loop that checks the
            // flag: the signal must still end the process.
            tokio::time::sleep(SIGNAL_GRACE).await;
            restore();
            std::process::exit(128 + signo);
        });
    });
}

/// How long the draw loop gets to notice a signal before the process exits
/// without it.
const SIGNAL_GRACE: Duration = Duration::from_millis(500);

/// Gathers a snapshot every `interval` on its own thread until the
/// receiver goes away.
fn spawn_collector(
    mut collector: Collector,
    interval: Duration,
) -> anyhow::Result<mpsc::Receiver<Snapshot>> {
    let rt = super::super::client_opts::runtime()?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || loop {
        let next = Instant::now() + interval;
        let snap = rt.block_on(collector.collect());
        if tx.send(snap).is_err() {
            return;
        }
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    });
    Ok(rx)
}

struct View {
    bootstrap: String,
    interval: Duration,
    pane: Pane,
    selected: [usize; 4],
    /// Per pane: sort column and whether descending.
    sort: [(usize, bool); 4],
    filter: Option<Regex>,
    /// The filter being typed after `/`.
    editing: Option<String>,
    /// The topic the partitions pane shows; all when `None`.
    topic: Option<String>,
    paused: bool,
    help: bool,
    message: Option<String>,
    snapshot: Option<Snapshot>,
    /// The newest snapshot that arrived while paused.
    pending: Option<Snapshot>,
}

enum Step {
    Continue,
    Quit,
}

pub fn run(collector: Collector, interval: Duration, bootstrap: String) -> anyhow::Result<()> {
    let quit = Arc::new(AtomicBool::new(false));
    watch_signals(quit.clone());
    let snapshots = spawn_collector(collector, interval)?;
    let _guard = TerminalGuard::enter()?;
    let mut view = View {
        bootstrap,
        interval,
        pane: Pane::Topics,
        selected: [0; 4],
        sort: [(0, false); 4],
        filter: None,
        editing: None,
        topic: None,
        paused: false,
        help: false,
        message: None,
        snapshot: None,
        pending: None,
    };
    let mut dirty = true;
    while !quit.load(Ordering::SeqCst) {
        while let Ok(s) = snapshots.try_recv() {
            if view.paused {
                view.pending = Some(s);
            } else {
                view.snapshot = Some(s);
                dirty = true;
            }
        }
        if dirty {
            draw(&view)?;
            dirty = false;
        }
        if !event::poll(Duration::from_millis(100)).context("cannot read the terminal")? {
            continue;
        }
        match event::read().context("cannot read the terminal")? {
            Event::Key(k) if k.kind != KeyEventKind::Release => {
                if let Step::Quit = view.key(k) {
                    break;
                }
                dirty = true;
            }
            Event::Resize(..) => dirty = true,
            _ => {}
        }
    }
    Ok(())
}

impl View {
    fn key(&mut self, k: KeyEvent) -> Step {
        if k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL) {
            return Step::Quit;
        }
        if let Some(text) = &mut self.editing {
            match k.code {
                KeyCode::Enter => {
                    let text = std::mem::take(text);
                    self.editing = None;
                    self.set_filter(&text);
                }
                KeyCode::Esc => self.editing = None,
                KeyCode::Backspace => {
                    text.pop();
                }
                KeyCode::Char(c) => text.push(c),
                _ => {}
            }
            return Step::Continue;
        }
        self.message = None;
        let i = self.pane.index();
        match k.code {
            KeyCode::Char('q') => return Step::Quit,
            KeyCode::Char('?') | KeyCode::Char('h') => self.help = !self.help,
            KeyCode::Esc => {
                if self.help {
                    self.help = false;
                } else if self.pane == Pane::Partitions && self.topic.is_some() {
                    self.topic = None;
                } else {
                    self.filter = None;
                }
            }
            KeyCode::Char(c @ '1'..='4') => self.pane = PANES[(c as u8 - b'1') as usize],
            KeyCode::Tab | KeyCode::Right => self.pane = PANES[(i + 1) % PANES.len()],
            KeyCode::BackTab | KeyCode::Left => {
                self.pane = PANES[(i + PANES.len() - 1) % PANES.len()]
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.selected[i] = self.selected[i].saturating_sub(1)
            }
            KeyCode::Down | KeyCode::Char('j') => self.selected[i] += 1,
            KeyCode::PageUp => self.selected[i] = self.selected[i].saturating_sub(10),
            KeyCode::PageDown => self.selected[i] += 10,
            KeyCode::Home | KeyCode::Char('g') => self.selected[i] = 0,
            KeyCode::End | KeyCode::Char('G') => self.selected[i] = usize::MAX,
            KeyCode::Char('s') => {
                let columns = self.table(self.pane).map_or(1, |t| t.headers.len());
                self.sort[i].0 = (self.sort[i].0 + 1) % columns;
            }
            KeyCode::Char('r') | KeyCode::Char('S') => self.sort[i].1 = !self.sort[i].1,
            KeyCode::Char('/') => {
                self.editing =
                    Some(self.filter.as_ref().map(|r| r.as_str().to_string()).unwrap_or_default())
            }
            KeyCode::Char('p') | KeyCode::Char(' ') => {
                self.paused = !self.paused;
                if !self.paused {
                    if let Some(s) = self.pending.take() {
                        self.snapshot = Some(s);
                    }
                }
            }
            KeyCode::Enter if self.pane == Pane::Topics => {
                if let Some(t) = self.table(Pane::Topics) {
                    if let Some(row) =
                        t.rows.get(self.selected[i].min(t.rows.len().saturating_sub(1)))
                    {
                        self.topic = Some(row.cells[0].clone());
                        self.pane = Pane::Partitions;
                        self.selected[Pane::Partitions.index()] = 0;
                    }
                }
            }
            _ => {}
        }
        // Keep the selection on a row, so Up moves at once after End.
        if let Some(t) = self.table(self.pane) {
            let i = self.pane.index();
            self.selected[i] = self.selected[i].min(t.rows.len().saturating_sub(1));
        }
        Step::Continue
    }

    fn set_filter(&mut self, text: &str) {
        if text.is_empty() {
            self.filter = None;
            return;
        }
        match Regex::new(text) {
            Ok(r) => {
                self.filter = Some(r);
                self.selected = [0; 4];
            }
            Err(e) => {
                let first = e.to_string().lines().last().unwrap_or_default().trim().to_string();
                self.message = Some(format!("invalid regex {text:?}: {first}"));
            }
        }
    }

    /// The pane's table, sorted and filtered as chosen.
    fn table(&self, pane: Pane) -> Option<Table> {
        let s = self.snapshot.as_ref()?;
        let mut t = match pane {
            Pane::Brokers => render::brokers(s),
            Pane::Topics => render::topics(s),
            Pane::Partitions => render::partitions(s, self.topic.as_deref()),
            Pane::Groups => render::groups(s),
        };
        if let Some(f) = &self.filter {
            t.retain(f);
        }
        let (col, desc) = self.sort[pane.index()];
        t.sort(col, desc);
        Some(t)
    }

    fn lines(&self, height: usize) -> Vec<(String, Style)> {
        let mut out: Vec<(String, Style)> = Vec::new();
        let clock = self.snapshot.as_ref().map_or("--:--:--".into(), |s| utc_clock(s.taken_at_ms));
        let mut title = format!(
            "kafka-rs top  {}  {clock} UTC  every {}s",
            self.bootstrap,
            self.interval.as_secs_f64()
        );
        if self.paused {
            title.push_str("  [PAUSED]");
        }
        out.push((title, Style::Title));
        let Some(snap) = &self.snapshot else {
            out.push((format!("connecting to {} ...", self.bootstrap), Style::Plain));
            out.resize(height, (String::new(), Style::Plain));
            return out;
        };
        out.push((render::summary(snap), Style::Plain));
        let mut tabs = String::new();
        for p in PANES {
            let mut name = p.title().to_string();
            if p == Pane::Partitions {
                if let Some(t) = &self.topic {
                    name = format!("{name} of {t}");
                }
            }
            if p == self.pane {
                tabs.push_str(&format!("[{name}]  "));
            } else {
                tabs.push_str(&format!(" {name}   "));
            }
        }
        let table = self.table(self.pane);
        if let Some(t) = &table {
            let (col, desc) = self.sort[self.pane.index()];
            tabs.push_str(&format!(
                "  sort: {} {}",
                t.headers.get(col).copied().unwrap_or("-"),
                if desc { "desc" } else { "asc" }
            ));
        }
        if let Some(f) = &self.filter {
            tabs.push_str(&format!("  filter: /{}/", f.as_str()));
        }
        out.push((tabs, Style::Plain));
        let body = height.saturating_sub(out.len() + 1);
        if self.help {
            out.extend(HELP.iter().take(body).map(|l| (l.to_string(), Style::Plain)));
        } else if let Some(t) = table {
            let sel = self.selected[self.pane.index()];
            if self.pane == Pane::Groups {
                let top = (body / 2).max(3);
                let chosen = table_lines(&t, Some(sel), top, &mut out);
                let group = chosen.and_then(|name| snap.groups.iter().find(|g| g.group_id == name));
                if let Some(g) = group {
                    out.push((String::new(), Style::Plain));
                    out.push((format!("GROUP {}", g.group_id), Style::Header));
                    let detail = render::group_partitions(g);
                    table_lines(&detail, None, body.saturating_sub(top + 2), &mut out);
                }
            } else {
                table_lines(&t, Some(sel), body, &mut out);
            }
        }
        while out.len() + 1 < height {
            out.push((String::new(), Style::Plain));
        }
        let status = if let Some(text) = &self.editing {
            (format!("filter regex: /{text}"), Style::Plain)
        } else if let Some(m) = &self.message {
            (m.clone(), Style::Bad)
        } else if let Some(e) = snap.errors.first() {
            let more = if snap.errors.len() > 1 {
                format!(" (+{} more)", snap.errors.len() - 1)
            } else {
                String::new()
            };
            (format!("{e}{more}"), Style::Bad)
        } else {
            (
                "q quit  ? help  1-4/Tab panes  Up/Down select  Enter partitions  s sort  r reverse  / filter  p pause".into(),
                Style::Title,
            )
        };
        out.push(status);
        out.truncate(height);
        out
    }
}

/// Appends a table's header and the rows that fit in `room` lines, scrolled
/// so the selected one shows (none for a detail table); returns the
/// selected row's name.
fn table_lines(
    t: &Table,
    selected: Option<usize>,
    room: usize,
    out: &mut Vec<(String, Style)>,
) -> Option<String> {
    if room == 0 {
        return None;
    }
    let widths = t.widths();
    out.push((t.header_line(&widths), Style::Header));
    let visible = room - 1;
    let sel = selected.map(|s| s.min(t.rows.len().saturating_sub(1)));
    let first = sel.map_or(0, |s| (s + 1).saturating_sub(visible));
    for (i, r) in t.rows.iter().enumerate().skip(first).take(visible) {
        // The selected row keeps its warning colour, so moving the
        // selection onto a troubled row does not hide the trouble.
        let style = match r.mark {
            Mark::Bad if Some(i) == sel => Style::SelectedBad,
            Mark::Warn if Some(i) == sel => Style::SelectedWarn,
            _ if Some(i) == sel => Style::Selected,
            Mark::Bad => Style::Bad,
            Mark::Warn => Style::Warn,
            Mark::Normal => Style::Plain,
        };
        out.push((t.row_line(r, &widths), style));
    }
    t.rows.get(sel?).map(|r| r.cells[0].clone())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    Plain,
    Title,
    Header,
    Selected,
    SelectedWarn,
    SelectedBad,
    Warn,
    Bad,
}

fn draw(view: &View) -> anyhow::Result<()> {
    let (w, h) = terminal::size().context("cannot read the terminal size")?;
    let (w, h) = (w as usize, h as usize);
    let mut out = std::io::stdout().lock();
    for (y, (text, style)) in view.lines(h).into_iter().enumerate() {
        // Pad to the width so the line overwrites what was there, and stop
        // one short on the last line so no terminal scrolls.
        let room = if y + 1 == h { w.saturating_sub(1) } else { w };
        let mut line: String = text.chars().take(room).collect();
        let len = line.chars().count();
        line.extend(std::iter::repeat_n(' ', room - len));
        queue!(out, cursor::MoveTo(0, y as u16))?;
        match style {
            Style::Plain => {}
            Style::Title => queue!(out, SetAttribute(Attribute::Reverse))?,
            Style::Header => queue!(out, SetAttribute(Attribute::Bold))?,
            Style::Selected => {
                queue!(out, SetBackgroundColor(Color::Blue), SetForegroundColor(Color::White))?
            }
            Style::SelectedWarn => {
                queue!(out, SetBackgroundColor(Color::Blue), SetForegroundColor(Color::Yellow))?
            }
            Style::SelectedBad => queue!(
                out,
                SetBackgroundColor(Color::Blue),
                SetForegroundColor(Color::Red),
                SetAttribute(Attribute::Bold)
            )?,
            Style::Warn => queue!(out, SetForegroundColor(Color::Yellow))?,
            Style::Bad => {
                queue!(out, SetForegroundColor(Color::Red), SetAttribute(Attribute::Bold))?
            }
        }
        queue!(out, Print(line), SetAttribute(Attribute::Reset))?;
    }
    out.flush().context("cannot write to the terminal")
}

/// `HH:MM:SS` of a wall-clock time in ms.
fn utc_clock(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}
