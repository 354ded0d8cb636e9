//! The listing subcommands: `mr jobs` (with its filters), `mr workers` and
//! `mr apps`, as tables or JSON.

use std::process::ExitCode;

use super::print::{out, shown};
use super::CoordinatorArg;
use crate::client::{JobState, JobView};

/// `mr jobs`.
#[derive(Debug, clap::Args)]
pub struct JobsCmd {
    /// Only jobs in this state (repeatable).
    #[arg(long, value_enum)]
    state: Vec<StateFilter>,
    /// Only jobs of this app.
    #[arg(long)]
    app: Option<String>,
    /// Only the newest N jobs (after the other filters).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    #[command(flatten)]
    list: ListCmd,
}

/// A job state to filter `mr jobs` by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StateFilter {
    /// Waiting for its first task.
    Queued,
    /// Running.
    Running,
    /// Queued or running.
    Active,
    /// Succeeded.
    Succeeded,
    /// Failed.
    Failed,
    /// Cancelled.
    Cancelled,
}

impl StateFilter {
    fn admits(self, s: JobState) -> bool {
        match self {
            StateFilter::Queued => s == JobState::Queued,
            StateFilter::Running => s == JobState::Running,
            StateFilter::Active => matches!(s, JobState::Queued | JobState::Running),
            StateFilter::Succeeded => s == JobState::Succeeded,
            StateFilter::Failed => s == JobState::Failed,
            StateFilter::Cancelled => s == JobState::Cancelled,
        }
    }
}

impl JobsCmd {
    /// The jobs these filters keep, oldest first.
    fn select(&self, mut jobs: Vec<JobView>) -> Vec<JobView> {
        jobs.retain(|j| {
            (self.state.is_empty() || self.state.iter().any(|f| f.admits(j.state)))
                && self.app.as_ref().is_none_or(|a| *a == j.app)
        });
        jobs.sort_by_key(|j| j.job_id.0);
        if let Some(n) = self.limit {
            jobs.drain(..jobs.len().saturating_sub(n));
        }
        jobs
    }

    pub(super) async fn run(self) -> anyhow::Result<ExitCode> {
        let jobs = self.list.coordinator.connect().await?.jobs().await?;
        let jobs = self.select(jobs);
        if self.list.json {
            out!("{}", serde_json::to_string(&jobs)?);
            return Ok(ExitCode::SUCCESS);
        }
        print_jobs(&jobs);
        Ok(ExitCode::SUCCESS)
    }
}

/// `mr workers`, and the listing options of `mr jobs` and `mr apps`.
#[derive(Debug, clap::Args)]
pub struct ListCmd {
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    coordinator: CoordinatorArg,
}

impl ListCmd {
    pub(super) async fn workers(self) -> anyhow::Result<ExitCode> {
        let workers = self.coordinator.connect().await?.workers().await?;
        if self.json {
            out!("{}", serde_json::to_string(&workers)?);
            return Ok(ExitCode::SUCCESS);
        }
        out!(
            "{:>6}  {:<22} {:<6} {:>9} {:>6}  RUNNING",
            "WORKER",
            "ADDRESS",
            "STATE",
            "LAST BEAT",
            "DONE"
        );
        for w in workers {
            out!(
                "{:>6}  {:<22} {:<6} {:>8.1}s {:>6}  {}",
                w.worker_id,
                shown(&w.address),
                w.state,
                w.last_heartbeat_age_ms as f64 / 1000.0,
                w.tasks_completed,
                shown(&w.running)
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `mr jobs` as a table.
fn print_jobs(jobs: &[JobView]) {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    out!(
        "{:>5}  {:<14} {:<16} {:<12} {:<10} {:<16} {:<16} {:<20} {:>9}  ERRORS",
        "JOB",
        "APP",
        "NAME",
        "USER",
        "STATE",
        "MAPS d/r/t",
        "REDUCES d/r/t",
        "SUBMITTED (UTC)",
        "DURATION"
    );
    for j in jobs {
        let end = if j.finished_at_ms == 0 {
            now_ms
        } else {
            j.finished_at_ms
        };
        let duration = end.saturating_sub(j.submitted_at_ms) as f64 / 1000.0;
        let first_error: String = j
            .errors
            .first()
            .map(String::as_str)
            .unwrap_or("")
            .chars()
            .take(80)
            .collect();
        out!(
            "{:>5}  {:<14} {:<16} {:<12} {:<10} {:<16} {:<16} {:<20} {:>8.1}s  {}",
            j.job_id,
            shown(&j.app),
            shown(&j.name),
            shown(&j.submitted_by),
            j.state.to_string(),
            format!("{}/{}/{}", j.maps.done, j.maps.running, j.maps.total),
            format!(
                "{}/{}/{}",
                j.reduces.done, j.reduces.running, j.reduces.total
            ),
            utc_time(j.submitted_at_ms),
            duration,
            shown(&first_error)
        );
    }
}

/// What `mr apps` does.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum AppsAction {
    /// Rescan the coordinator's plugin folders first.
    Reload,
}

/// `mr apps`.
#[derive(Debug, clap::Args)]
pub struct AppsCmd {
    /// `reload`: rescan the plugin folders (new and changed plugin files).
    #[arg(value_enum)]
    action: Option<AppsAction>,
    #[command(flatten)]
    list: ListCmd,
}

impl AppsCmd {
    pub(super) async fn run(self) -> anyhow::Result<ExitCode> {
        let client = self.list.coordinator.connect().await?;
        let apps = match self.action {
            Some(AppsAction::Reload) => {
                let (apps, problems) = client.reload_apps().await?;
                for p in problems {
                    eprintln!("skipped {}", shown(&p));
                }
                apps
            }
            None => client.apps().await?,
        };
        if self.list.json {
            out!("{}", serde_json::to_string(&apps)?);
            return Ok(ExitCode::SUCCESS);
        }
        out!(
            "{:<16} {:<9} {:<12} {:<48} FILE",
            "APP",
            "VERSION",
            "SHA-256",
            "DESCRIPTION"
        );
        for a in apps {
            let short = a.sha256.get(..12).unwrap_or(&a.sha256);
            out!(
                "{:<16} {:<9} {:<12} {:<48} {}",
                shown(&a.name),
                shown(&a.version),
                shown(short),
                shown(&a.description),
                shown(&a.file)
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) for milliseconds since the Unix epoch.
fn utc_time(ms: u64) -> String {
    let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX);
    match jiff::Timestamp::from_second(secs) {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => format!("{ms} ms"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_time_formats_civil_dates() {
        assert_eq!(super::utc_time(0), "1970-01-01 00:00:00");
        assert_eq!(super::utc_time(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(super::utc_time(1_795_460_645_000), "2026-11-23 19:04:05");
    }
}
