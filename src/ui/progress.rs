//! Live progress on a terminal (indicatif): bytes compressed, pulled and uploaded (per blob and in
//! total, with the rate), and images packaged or pushed. Bars are drawn on stderr only when it is a
//! terminal, the level is not quiet, `TERM` is not `dumb` and `CI` is not set (cargo's rule); anywhere
//! else every [`Bar`] is inert and the output is the one line per finished step the `ui` functions
//! print. Bars are cleared when they finish: what stays on the screen is those lines.
//!
//! Every line `ui` prints goes through `print_line`, which takes the bars off the screen, prints,
//! and draws them again (indicatif's `MultiProgress::suspend`), so a warning never tears a bar.
//! Every text a bar shows went through `ui::shown` (redacted and defanged) first.
//!
//! Transfers are counted where the bytes move, in the registry client, without passing a bar
//! through it: [`Bar::part`] makes a blob's bar the *current transfer of this thread* while the
//! returned [`Part`] lives, and the readers the client streams blobs through ([`reading`]) move that
//! bar. Bars move by at most one update per [`STEP`] bytes, so a hot loop pays one addition and a
//! compare per call, and nothing at all when no bar is drawn.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::sync::OnceLock;

/// Bytes between two updates of a bar.
pub const STEP: u64 = 256 << 10;

/// Layers whose tar is at least this long get a compressing bar (the default level for layers up to
/// 4 MB is 12, libdeflate's slowest: about a second per MB).
pub const COMPRESS_BAR_MIN: u64 = 1 << 20;

static MULTI: OnceLock<MultiProgress> = OnceLock::new();

/// Whether bars are drawn: stderr a terminal, not quiet, `TERM` not `dumb`, `CI` not set.
pub fn enabled() -> bool {
    static WHERE: OnceLock<bool> = OnceLock::new();
    super::verbosity::level() >= 0
        && *WHERE.get_or_init(|| {
            use std::io::IsTerminal;
            let ci = std::env::var_os("CI").is_some() || std::env::var_os("TF_BUILD").is_some();
            let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
            io::stderr().is_terminal() && !ci && !dumb
        })
}

/// Print one line (no newline in `line` at its end) on stderr, with the bars out of the way.
pub(crate) fn print_line(line: &str) {
    let write = || {
        let mut e = io::stderr().lock();
        let _ = e.write_all(format!("{line}\n").as_bytes());
        let _ = e.flush();
    };
    match MULTI.get() {
        Some(m) => m.suspend(write),
        None => write(),
    }
}

/// A bar with `total` units drawn as `template` (inert when bars are off).
fn new_bar(verb: &str, label: &str, total: u64, template: &str) -> Bar {
    if !enabled() {
        return Bar::none();
    }
    let multi = MULTI.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bar = multi.add(
        ProgressBar::new(total)
            .with_style(style)
            .with_prefix(super::colour::paint(
                super::colour::NOTE,
                &format!("{verb:>12}"),
            ))
            .with_message(super::safe_text::shown(label)),
    );
    // Drawn at once, not only at its first update (which a quick transfer may never reach).
    bar.tick();
    Bar { bar: Some(bar) }
}

/// A bar counting bytes, with the rate: `Compressing [====>   ] 3.0 MiB/8.2 MiB 41.0 MiB/s app`.
pub fn bytes(verb: &str, label: &str, total: u64) -> Bar {
    new_bar(
        verb,
        label,
        total,
        "{prefix} [{bar:25}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {wide_msg}",
    )
}

/// A bar counting steps (images, platforms): `Packaging [===>     ] 1/3: app`.
pub fn count(verb: &str, label: &str, total: u64) -> Bar {
    new_bar(
        verb,
        label,
        total,
        "{prefix} [{bar:25}] {pos}/{len}: {wide_msg}",
    )
}

/// A [`count`] bar over images whose platform counts are `platforms`, labelled by the caller
/// (`set_message`); none for a single one (its own bars and lines say enough).
pub fn steps(verb: &str, platforms: impl Iterator<Item = usize>) -> Bar {
    match platforms.sum::<usize>() {
        0 | 1 => Bar::none(),
        n => count(verb, "", n as u64),
    }
}

/// One bar; inert when bars are off. Dropping it clears it, as [`Bar::finish`] does.
pub struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    /// A bar that is never drawn.
    pub fn none() -> Bar {
        Bar { bar: None }
    }

    /// `n` more units done.
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    /// Show `label` (redacted) after the bar.
    pub fn set_message(&self, label: &str) {
        if let Some(b) = &self.bar {
            b.set_message(super::safe_text::shown(label));
        }
    }

    /// A bar of its own for one blob of `size` bytes under this one (a total): while the returned
    /// [`Part`] lives, what this thread reads through [`reading`] moves it, and this bar with it.
    pub fn part(&self, verb: &str, label: &str, size: u64) -> Part {
        let none = Part {
            bar: None,
            previous: None,
        };
        let Some(total) = &self.bar else { return none };
        let Some(bar) = bytes(verb, label, size).bar.take() else {
            return none;
        };
        let track = Track {
            bar: bar.clone(),
            total: total.clone(),
            size,
            shown: 0,
        };
        let previous = CURRENT.with(|c| c.borrow_mut().replace(track));
        Part {
            bar: Some(bar),
            previous,
        }
    }

    /// Take the bar off the screen.
    pub fn finish(self) {}
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

/// A blob's bar and the total it counts towards.
struct Track {
    bar: ProgressBar,
    total: ProgressBar,
    size: u64,
    /// The position the bars show (moved in [`STEP`]s).
    shown: u64,
}

impl Track {
    /// The transfer stands at byte `pos` (a retry may go back): update both bars when it moved a
    /// [`STEP`] or reached the end.
    fn at(&mut self, pos: u64) {
        let pos = pos.min(self.size);
        if pos.abs_diff(self.shown) < STEP && pos != self.size {
            return;
        }
        if pos >= self.shown {
            self.total.inc(pos - self.shown);
        } else {
            self.total.dec(self.shown - pos);
        }
        self.shown = pos;
        self.bar.set_position(pos);
    }
}

thread_local! {
    /// The transfer this thread is making, if a [`Part`] is alive on it.
    static CURRENT: RefCell<Option<Track>> = const { RefCell::new(None) };
}

/// One blob's transfer (see [`Bar::part`]). Call [`Part::done`] when the blob is where it should be
/// (uploaded, skipped or mounted: its bytes count as done in the total); dropped without it (an
/// error), it only clears its bar.
pub struct Part {
    /// The blob's bar (its track is this thread's current transfer).
    bar: Option<ProgressBar>,
    /// The transfer that was current before, put back when this one ends.
    previous: Option<Track>,
}

impl Part {
    /// The blob is there: its bytes count as done in the total.
    pub fn done(self) {
        if self.bar.is_some() {
            CURRENT.with(|c| {
                if let Some(t) = c.borrow_mut().as_mut() {
                    t.at(t.size);
                }
            });
        }
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        if let Some(b) = self.bar.take() {
            CURRENT.with(|c| *c.borrow_mut() = self.previous.take());
            b.finish_and_clear();
        }
    }
}

/// `inner`, read from byte `offset` of a blob: reading moves this thread's current transfer, if
/// any (see [`Bar::part`]).
pub fn reading<R: Read>(inner: R, offset: u64) -> Reading<R> {
    Reading { inner, pos: offset }
}

/// See [`reading`].
pub struct Reading<R> {
    inner: R,
    pos: u64,
}

impl<R: Read> Read for Reading<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        CURRENT.with(|c| {
            if let Some(t) = c.borrow_mut().as_mut() {
                t.at(self.pos);
            }
        });
        Ok(n)
    }
}

/// A writer that moves `bar` by what goes through it (the uncompressed bytes of a layer).
pub struct Writing<W> {
    inner: W,
    bar: Bar,
    pending: u64,
}

impl<W: Write> Writing<W> {
    /// Count what is written to `inner` on `bar`.
    pub fn new(inner: W, bar: Bar) -> Writing<W> {
        Writing {
            inner,
            bar,
            pending: 0,
        }
    }

    /// The writer, with the bar cleared.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for Writing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if self.bar.bar.is_some() {
            self.pending += n as u64;
            if self.pending >= STEP {
                self.bar.inc(std::mem::take(&mut self.pending));
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inert_bars_pass_bytes_through_unchanged() {
        // Tests run with stderr captured or piped: no bar is drawn, and nothing changes the bytes.
        let bar = bytes("Compressing", "x", 10);
        assert!(bar.bar.is_none() || enabled());
        let mut w = Writing::new(Vec::new(), bar);
        w.write_all(b"hello").unwrap();
        assert_eq!(w.into_inner(), b"hello");
        let total = bytes("Uploading", "t", 3);
        let part = total.part("Uploading", "b", 3);
        let mut out = Vec::new();
        reading(&b"abc"[..], 0).read_to_end(&mut out).unwrap();
        part.done();
        assert_eq!(out, b"abc");
    }

    #[test]
    fn a_track_moves_in_steps_and_back() {
        let (bar, total) = (ProgressBar::hidden(), ProgressBar::hidden());
        bar.set_length(4 * STEP);
        total.set_length(8 * STEP);
        let mut t = Track {
            bar: bar.clone(),
            total: total.clone(),
            size: 4 * STEP,
            shown: 0,
        };
        t.at(STEP - 1);
        assert_eq!((bar.position(), total.position()), (0, 0));
        t.at(2 * STEP);
        assert_eq!((bar.position(), total.position()), (2 * STEP, 2 * STEP));
        // A retry starts again from byte STEP / 2: the total goes back too.
        t.at(STEP / 2);
        assert_eq!((bar.position(), total.position()), (STEP / 2, STEP / 2));
        t.at(9 * STEP);
        assert_eq!((bar.position(), total.position()), (4 * STEP, 4 * STEP));
    }
}
