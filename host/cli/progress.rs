//! Following a job on stderr: a live line on a terminal, drawn by
//! `indicatif` (redrawn in place, cut to the terminal's width, updated
//! every second so its clock keeps ticking while nothing changes), plain
//! lines otherwise (at most one a second, plus every phase change). When
//! the cluster has no live worker, it says so: the job waits for one.
//! When done maps go back, it says why (the job's latest note).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::client::JobView;

/// What a waiting job is told when no worker is alive.
pub const NO_WORKER: &str = "no live worker; the job waits for one";

/// Prints a job's progress as it changes.
pub struct ProgressPrinter {
    /// The live line, on a terminal.
    live: Option<ProgressBar>,
    started: Instant,
    last_line: Option<Instant>,
    last_shown: Option<((u32, u32), bool)>,
    no_worker: bool,
    /// Maps done at the last status, to see progress go back.
    last_maps_done: Option<u32>,
    /// The last note said.
    said_note: Option<String>,
}

/// A live line drawn to `target`: a bar of the tasks done (maps and
/// reduces together), then the progress text, cut to the width.
fn live_line(target: ProgressDrawTarget) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), target);
    if let Ok(style) = ProgressStyle::with_template("[{bar:30}] {wide_msg}") {
        bar.set_style(style.progress_chars("#>."));
    }
    bar
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

impl ProgressPrinter {
    /// A printer for stderr.
    pub fn new() -> Self {
        let live = std::io::stderr()
            .is_terminal()
            .then(|| live_line(ProgressDrawTarget::stderr()));
        ProgressPrinter {
            live,
            started: Instant::now(),
            last_line: None,
            last_shown: None,
            no_worker: false,
            last_maps_done: None,
            said_note: None,
        }
    }

    /// Shows `v`.
    pub fn update(&mut self, v: &JobView) {
        self.say_why_back(v);
        self.show(v, false);
    }

    /// When fewer maps are done than at the last status, says the job's
    /// latest note (why: "map 5 runs again: worker 3 died"), once.
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
        match &self.live {
            Some(live) => live.println(line),
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
        let line = render(v, self.started.elapsed(), self.no_worker);
        if let Some(live) = &self.live {
            live.set_length(u64::from(v.maps.total + v.reduces.total));
            live.set_position(u64::from(v.maps.done + v.reduces.done));
            live.set_message(line);
            return;
        }
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

    /// Ends the live line, leaving its last state on screen.
    pub fn finish(&mut self) {
        if let Some(live) = self.live.take() {
            live.abandon();
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
            notes: Vec::new(),
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
        }
    }

    /// A terminal of 80 columns that keeps what is written to it.
    #[derive(Debug, Default, Clone)]
    struct Narrow(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    impl indicatif::TermLike for Narrow {
        fn width(&self) -> u16 {
            80
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push(s.to_string());
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_live_line_fits_the_terminal() {
        let term = Narrow::default();
        let mut p = ProgressPrinter::new();
        p.live = Some(live_line(ProgressDrawTarget::term_like_with_hz(
            Box::new(term.clone()),
            100,
        )));
        let mut v = queued();
        v.maps.done = 1;
        p.tick(&v, true);
        if let Some(live) = &p.live {
            live.tick();
        }
        p.finish();
        let written = term.0.lock().unwrap().clone();
        assert!(
            written.iter().any(|l| l.contains("[##########")),
            "{written:?}"
        );
        for line in &written {
            assert!(line.chars().count() <= 80, "{line:?} is wider than 80");
        }
    }

    #[test]
    fn progress_going_back_says_why_once() {
        let term = Narrow::default();
        let mut p = ProgressPrinter::new();
        p.live = Some(live_line(ProgressDrawTarget::term_like_with_hz(
            Box::new(term.clone()),
            100,
        )));
        let mut v = queued();
        v.maps.done = 2;
        p.update(&v);
        v.maps.done = 1;
        v.notes = vec!["map 1 runs again: worker 3 died".into()];
        p.update(&v);
        v.maps.done = 0;
        p.update(&v);
        p.finish();
        let written = term.0.lock().unwrap().clone();
        let said = written
            .iter()
            .filter(|l| l.contains("job 4: map 1 runs again: worker 3 died"))
            .count();
        assert_eq!(said, 1, "{written:?}");
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
