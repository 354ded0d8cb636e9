//! Following a job on stderr: a live line on a terminal, plain lines (at
//! most one a second, plus every phase change) otherwise.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::client::JobView;

/// Prints a job's progress as it changes.
pub struct ProgressPrinter {
    tty: bool,
    started: Instant,
    last_line: Option<Instant>,
    last_phase: Option<(u32, u32)>,
    dirty: bool,
}

impl ProgressPrinter {
    /// A printer for stderr.
    pub fn new() -> Self {
        ProgressPrinter {
            tty: std::io::stderr().is_terminal(),
            started: Instant::now(),
            last_line: None,
            last_phase: None,
            dirty: false,
        }
    }

    fn line(&self, v: &JobView) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        format!(
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
        )
    }

    /// Shows `v`.
    pub fn update(&mut self, v: &JobView) {
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{} {}", bar(v), self.line(v));
            let _ = err.flush();
            self.dirty = true;
            return;
        }
        let phase = (v.maps.done, v.reduces.done);
        let phase_changed = self.last_phase.is_none_or(|(m, r)| {
            (m == v.maps.total) != (phase.0 == v.maps.total)
                || r != phase.1 && phase.1 == v.reduces.total
        });
        let due = self
            .last_line
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if (due || phase_changed || v.done) && self.last_phase != Some(phase) {
            let _ = writeln!(err, "{}", self.line(v));
            self.last_line = Some(Instant::now());
            self.last_phase = Some(phase);
        }
    }

    /// Ends the live line.
    pub fn finish(&mut self) {
        if self.tty && self.dirty {
            let _ = writeln!(std::io::stderr());
            self.dirty = false;
        }
    }
}

/// A 30-column bar of the job's tasks done (maps and reduces together).
fn bar(v: &JobView) -> String {
    const WIDTH: u32 = 30;
    let total = (v.maps.total + v.reduces.total).max(1);
    let done = v.maps.done + v.reduces.done;
    let filled = (done * WIDTH / total) as usize;
    format!(
        "[{}{}]",
        "#".repeat(filled),
        ".".repeat(WIDTH as usize - filled)
    )
}
