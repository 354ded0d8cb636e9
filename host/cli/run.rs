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
        let registry = super::serve::load_registry(&self.plugins)?;
        if registry.get(&self.job.app).is_none() {
            bail!(
                "unknown app {:?}; available apps: {} (plugin folders: --plugins DIR or $MR_PLUGINS)",
                self.job.app,
                registry.names().join(", ")
            );
        }
        let submission = prepare_submission(&self.job)?;
        let output_dir = submission.output_dir.clone();
        let started = Instant::now();
        let cluster = LocalCluster::start(registry.clone(), self.workers)
            .await
            .context("cannot start the embedded cluster")?;
        let outcome = async {
            let client = Client::connect(cluster.url()).await?;
            let submitted = client.submit_job(submission).await?;
            eprintln!("{}", describe_tasks(&submitted));
            follow(&client, submitted.job_id).await
        }
        .await;
        cluster.shutdown().await;
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
        let lines = text.iter().filter(|b| **b == b'\n').count();
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        if self.full || lines <= MAX_LINES {
            out.write_all(&text)?;
        } else {
            let head_end = text
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .nth(19)
                .map(|(i, _)| i + 1)
                .unwrap_or(text.len());
            out.write_all(&text[..head_end])?;
            writeln!(
                out,
                "... {} more lines. All of it: mr process -o {} -a {}",
                lines - 20,
                output_dir,
                self.job.app
            )?;
        }
        out.flush()?;
        let c = view.counters;
        eprintln!(
            "job {} succeeded in {elapsed:.2}s: {} files, {:.1} MB in, {} output records in {}",
            view.job_id,
            c.input_records,
            c.input_bytes as f64 / 1e6,
            c.reduce_output_records,
            output_dir
        );
        Ok(code)
    }
}
