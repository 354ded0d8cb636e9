//! Why a job's progress went back: when done maps become pending again
//! (their worker died, or reduces could not fetch their output), the job
//! keeps a short note ("map 5 runs again: worker 3 died"), the last
//! [`MAX_NOTES`] of them, for `mr poll` and the progress display.

use std::collections::VecDeque;
use std::fmt;

use crate::core::ids::WorkerId;

/// How many notes a job keeps (the oldest go first).
pub const MAX_NOTES: usize = 8;

/// Why a finished map's output was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputLoss {
    /// The worker holding it died.
    WorkerDied(WorkerId),
    /// Reduces could not fetch it from the worker too often.
    Unfetchable(WorkerId),
}

/// Maps that run again for one cause.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Note {
    maps: Vec<u32>,
    cause: OutputLoss,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.maps.as_slice() {
            [one] => write!(f, "map {one} runs again: ")?,
            many => {
                let list: Vec<String> = many.iter().map(u32::to_string).collect();
                write!(f, "maps {} run again: ", list.join(", "))?;
            }
        }
        match self.cause {
            OutputLoss::WorkerDied(w) => write!(f, "worker {w} died"),
            OutputLoss::Unfetchable(w) => {
                write!(f, "reduces could not fetch their output from worker {w}")
            }
        }
    }
}

/// A job's last notes.
#[derive(Debug, Default)]
pub(super) struct Notes(VecDeque<Note>);

impl Notes {
    /// Map `index` runs again because of `cause`: joins the last note if
    /// it has the same cause (one worker's death, say), else a new one.
    pub(super) fn map_lost(&mut self, index: u32, cause: OutputLoss) {
        if let Some(last) = self.0.back_mut().filter(|n| n.cause == cause) {
            last.maps.push(index);
            return;
        }
        if self.0.len() == MAX_NOTES {
            self.0.pop_front();
        }
        self.0.push_back(Note {
            maps: vec![index],
            cause,
        });
    }

    /// The notes, oldest first.
    pub(super) fn lines(&self) -> Vec<String> {
        self.0.iter().map(Note::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cause_makes_one_note_and_old_notes_go() {
        let mut notes = Notes::default();
        notes.map_lost(5, OutputLoss::WorkerDied(WorkerId(3)));
        notes.map_lost(7, OutputLoss::WorkerDied(WorkerId(3)));
        notes.map_lost(1, OutputLoss::Unfetchable(WorkerId(2)));
        assert_eq!(
            notes.lines(),
            [
                "maps 5, 7 run again: worker 3 died",
                "map 1 runs again: reduces could not fetch their output from worker 2",
            ]
        );
        for w in 10..20 {
            notes.map_lost(0, OutputLoss::WorkerDied(WorkerId(w)));
        }
        let lines = notes.lines();
        assert_eq!(lines.len(), MAX_NOTES);
        assert_eq!(lines[MAX_NOTES - 1], "map 0 runs again: worker 19 died");
    }
}
