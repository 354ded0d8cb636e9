//! `mr run`: the embedded default. Starts a coordinator and workers on
//! loopback in this process, runs one job, and prints its formatted output.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};

use super::follow::follow;
use super::jobs::{describe_tasks, format_output, output_of, prepare_submission};
use super::{JobArgs, PluginsArg};
use crate::client::Client;
use crate::cluster::LocalCluster;

/// Output longer than this many lines is summarised unless `--full`.
const MAX_LINES: usize = 200;

/// Lines shown from each end of a summarised output: the start, and the end
/// (where apps that sort by a count, as `wc` does, put the largest).
const EDGE_LINES: usize = 10;

/// `mr run`.
#[derive(Debug, clap::Args)]
pub struct RunCmd {
    #[command(flatten)]
    job: JobArgs,
    /// Number of workers to start.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Print the whole output however long it is.
    #[arg(long)]
    full: bool,
    #[command(flatten)]
    plugins: PluginsArg,
}

impl RunCmd {
    pub(super) async fn run(self) -> anyhow::Result<ExitCode> {
        if self.workers == 0 {
            bail!("--workers must be at least 1");
        }
        let registry = super::serve::load_registry_with(&self.plugins, &self.job.app)?;
        let submission = prepare_submission(&self.job)?;
        let output_dir = submission.output_dir.clone();
        let started = Instant::now();
        let cluster = LocalCluster::start(registry.clone(), self.workers)
            .await
            .context("cannot start the embedded cluster")?;
        let outcome = async {
            let client = Client::connect(cluster.url()).await?;
            await_workers(&client, self.workers).await;
            let submitted = client.submit_job(submission).await?;
            eprintln!("{}", describe_tasks(&submitted));
            follow(&client, submitted.job_id).await
        }
        .await;
        cluster.shutdown().await;
        if let Err(e) = &outcome {
            if let Some(i) = e.downcast_ref::<super::follow::Interrupted>() {
                eprintln!(
                    "mr: interrupted; job {} stopped with the embedded cluster",
                    i.0
                );
                return Ok(ExitCode::from(130));
            }
        }
        let (view, code) = outcome?;
        let elapsed = started.elapsed().as_secs_f64();
        if view.failed {
            return Ok(code);
        }
        // An s3:// output is read back from a downloaded copy.
        let staged = crate::storage::is_object(&output_dir)
            .then(|| super::object_output::StagedOutput::fetch(&output_dir))
            .transpose()?;
        let dir = staged.as_ref().map_or(Path::new(&output_dir), |s| s.path());
        let (app, n) = output_of(dir, Some(&self.job.app), Some(view.n_reduce), false)?;
        let mut text = Vec::new();
        format_output(&registry, &app, dir, n, &mut text)?;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        match summary(&text, self.full) {
            None => out.write_all(&text)?,
            Some((head, skipped, tail)) => {
                out.write_all(head)?;
                writeln!(
                    out,
                    "... {skipped} more lines ... (all of them: {} process -o {})",
                    program_name(),
                    shell_word(&output_dir)
                )?;
                out.write_all(tail)?;
            }
        }
        out.flush()?;
        let c = view.counters;
        eprintln!(
            "job {} succeeded in {elapsed:.2}s: {} files, {} in, {} output records in {}",
            view.job_id,
            c.input_records,
            human_bytes(c.input_bytes),
            c.reduce_output_records,
            output_dir
        );
        Ok(code)
    }
}

/// Waits (at most a few seconds) until the embedded workers have
/// registered, so that the job's tasks are planned for all of them; a slow
/// start only costs that plan.
async fn await_workers(client: &Client, workers: usize) {
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    while Instant::now() < deadline {
        match client.workers().await {
            Ok(list) if list.iter().filter(|w| w.state == "alive").count() >= workers => return,
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
            Err(_) => return,
        }
    }
}

/// For output longer than [`MAX_LINES`] (unless `full`): its first and last
/// [`EDGE_LINES`] lines and how many lines lie between.
fn summary(text: &[u8], full: bool) -> Option<(&[u8], usize, &[u8])> {
    let ends: Vec<usize> = text
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    let lines = ends.len() + usize::from(ends.last().is_some_and(|e| *e < text.len()));
    if full || lines <= MAX_LINES {
        return None;
    }
    let head_end = ends[EDGE_LINES - 1];
    // The tail starts after the line that ends EDGE_LINES + 1 lines from the end.
    let tail_start = ends[lines - EDGE_LINES - 1];
    Some((
        &text[..head_end],
        lines - 2 * EDGE_LINES,
        &text[tail_start..],
    ))
}

/// How this `mr` was started (`./target/release/mr`, or `mr` from `PATH`),
/// so a printed hint runs as printed.
fn program_name() -> String {
    std::env::args()
        .next()
        .filter(|a| a.contains('/'))
        .map(|a| shell_word(&a))
        .unwrap_or_else(|| "mr".to_string())
}

/// `word` quoted for a POSIX shell if it needs it.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:,@%=".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// `n` bytes as a person reads it: `512 B`, `3.4 KiB`, `12.0 MiB`.
pub(super) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_a_person_reads_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(31_744), "31.0 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 + 1), "5.0 MiB");
    }

    #[test]
    fn long_output_shows_both_ends() {
        let text: String = (1..=300).map(|i| format!("{i}\n")).collect();
        let (head, skipped, tail) = summary(text.as_bytes(), false).unwrap();
        assert_eq!(
            head,
            (1..=10)
                .map(|i| format!("{i}\n"))
                .collect::<String>()
                .as_bytes()
        );
        assert_eq!(skipped, 280);
        assert_eq!(
            tail,
            (291..=300)
                .map(|i| format!("{i}\n"))
                .collect::<String>()
                .as_bytes()
        );
        assert!(summary(text.as_bytes(), true).is_none());
        assert!(summary(b"a\nb\n", false).is_none());
    }

    #[test]
    fn hints_quote_what_the_shell_would_split() {
        assert_eq!(shell_word("/tmp/mr-demo"), "/tmp/mr-demo");
        assert_eq!(shell_word("/tmp/my out"), "'/tmp/my out'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
