//! Following a job on stderr: on a terminal, one `indicatif` bar redrawn in
//! place and cut to the terminal's width (redrawn every second, so its clock
//! keeps ticking while nothing changes); plain lines otherwise (at most one a
//! second, plus every phase change). When the cluster has no live worker, it
//! says so: the job waits for one. When done maps go back, it says why
//! (the job's latest note).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::client::JobView;

/// What a waiting job is told when no worker is alive.
pub const NO_WORKER: &str = "no live worker; the job waits for one";

/// Prints a job's progress as it changes.
pub struct ProgressPrinter {
    /// The live bar, on a terminal.
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Option<Instant>,
    last_shown: Option<((u32, u32), bool)>,
    no_worker: bool,
    dirty: bool,
    /// Maps done at the last status, to see progress go back.
    last_maps_done: Option<u32>,
    /// The last note said.
    said_note: Option<String>,
}

/// One progress line for `v`, `elapsed` after the watch began.
pub fn render(v: &JobView, elapsed: Duration, no_worker: bool) -> String {
    let secs = elapsed.as_secs_f64();
    let mut line = format!(
        "job {} {}: maps {}/{} ({} running), reduces {}/{} ({} running), {:.1}s, {:.1} MB/s",
        v.job_id,
        v.state,
        v.maps.done,
        v.maps.total,
        v.maps.running,
        v.reduces.done,
        v.reduces.total,
        v.reduces.running,
        secs,
        v.counters.input_bytes as f64 / 1e6 / secs.max(1e-3)
    );
    if no_worker && !v.done {
        line.push_str("; ");
        line.push_str(NO_WORKER);
    }
    line
}

/// The shorter line beside the terminal bar (which shows the tasks done):
/// what matters first, as the end may be cut to the terminal's width.
pub fn render_short(v: &JobView, elapsed: Duration, no_worker: bool) -> String {
    let mut line = format!(
        "job {} {} {:.0}s  maps {}/{}  reduces {}/{}",
        v.job_id,
        v.state,
        elapsed.as_secs_f64(),
        v.maps.done,
        v.maps.total,
        v.reduces.done,
        v.reduces.total,
    );
    if no_worker && !v.done {
        line.push_str("  (no live worker)");
    } else {
        let running = v.maps.running + v.reduces.running;
        line.push_str(&format!("  {running} running"));
    }
    line
}

impl ProgressPrinter {
    /// A printer for stderr.
    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            // `wide_msg` takes the columns the bar leaves and is cut to fit.
            let style = ProgressStyle::with_template("[{bar:20}] {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("#>.");
            ProgressBar::with_draw_target(Some(1), ProgressDrawTarget::stderr()).with_style(style)
        });
        ProgressPrinter {
            bar,
            started: Instant::now(),
            last_line: None,
            last_shown: None,
            no_worker: false,
            dirty: false,
            last_maps_done: None,
            said_note: None,
        }
    }

    /// Shows `v`.
    pub fn update(&mut self, v: &JobView) {
        self.say_why_back(v);
        self.show(v, false);
    }

    /// When done maps went back since the last status, says why once (the
    /// job's latest note), above the live bar or as a plain line.
    fn say_why_back(&mut self, v: &JobView) {
        let went_back = self.last_maps_done.is_some_and(|m| v.maps.done < m);
        self.last_maps_done = Some(v.maps.done);
        let Some(note) = v.notes.last().filter(|_| went_back) else {
            return;
        };
        if self.said_note.as_ref() == Some(note) {
            return;
        }
        let line = format!("job {}: {}", v.job_id, super::print::shown(note));
        match &self.bar {
            Some(bar) => bar.println(line),
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
        }
        self.said_note = Some(note.clone());
    }

    /// Shows `v` again as time passes (no new status), knowing whether any
    /// worker is alive: the clock moves and a missing worker is named.
    pub fn tick(&mut self, v: &JobView, no_worker: bool) {
        self.no_worker = no_worker;
        self.show(v, true);
    }

    fn show(&mut self, v: &JobView, ticking: bool) {
        if let Some(bar) = &self.bar {
            bar.set_length(u64::from((v.maps.total + v.reduces.total).max(1)));
            bar.set_position(u64::from(v.maps.done + v.reduces.done));
            bar.set_message(render_short(v, self.started.elapsed(), self.no_worker));
            self.dirty = true;
            return;
        }
        let line = render(v, self.started.elapsed(), self.no_worker);
        let mut err = std::io::stderr().lock();
        let shown = ((v.maps.done, v.reduces.done), self.no_worker);
        let phase_changed = self.last_shown.is_none_or(|((m, r), _)| {
            (m == v.maps.total) != (shown.0 .0 == v.maps.total)
                || r != shown.0 .1 && shown.0 .1 == v.reduces.total
        });
        let due = self
            .last_line
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        // A tick prints only a change in whether a worker is alive.
        let news = if ticking {
            self.last_shown.is_some_and(|(_, w)| w != shown.1)
        } else {
            due || phase_changed || v.done
        };
        if news && self.last_shown != Some(shown) {
            let _ = writeln!(err, "{line}");
            self.last_line = Some(Instant::now());
            self.last_shown = Some(shown);
        }
    }

    /// Ends the live line.
    /// Ends the live bar, leaving its last state on screen.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.as_ref().filter(|_| self.dirty) {
            bar.abandon();
            // indicatif leaves the cursor on the bar's row.
            let _ = writeln!(std::io::stderr());
            self.dirty = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{Counters, JobState, Progress};

    fn queued() -> JobView {
        JobView {
            job_id: crate::core::JobId(4),
            state: JobState::Queued,
            done: false,
            failed: false,
            errors: Vec::new(),
            app: "wc".into(),
            maps: Progress {
                total: 2,
                ..Progress::default()
            },
            reduces: Progress {
                total: 1,
                ..Progress::default()
            },
            output_dir: "/out".into(),
            n_reduce: 1,
            counters: Counters::default(),
            submitted_at_ms: 0,
            finished_at_ms: 0,
            name: String::new(),
            submitted_by: String::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn the_clock_moves_and_a_missing_worker_is_named() {
        let v = queued();
        let early = render(&v, Duration::from_millis(0), false);
        let later = render(&v, Duration::from_millis(3400), true);
        assert!(
            early.contains("queued") && early.contains("0.0s"),
            "{early}"
        );
        assert!(!early.contains(NO_WORKER), "{early}");
        assert!(
            later.contains("3.4s") && later.ends_with(NO_WORKER),
            "{later}"
        );
        let done = JobView {
            done: true,
            ..queued()
        };
        assert!(!render(&done, Duration::from_secs(1), true).contains(NO_WORKER));
    }
}
