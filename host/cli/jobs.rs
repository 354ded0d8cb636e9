//! The client subcommands about one job: `mr submit`, `mr wait`, `mr poll`,
//! `mr cancel` and `mr process`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};

use super::follow::follow;
use super::print::{out, shown};
use super::{CoordinatorArg, JobArgs, PluginsArg};
use crate::client::{Client, JobLabel, Submission, Submitted, RECONNECT_FOR};
use crate::core::JobId;
use crate::output::manifest::Manifest;
use crate::output::{OutputError, OutputRecords};

/// `mr submit`.
#[derive(Debug, clap::Args)]
pub struct SubmitCmd {
    #[command(flatten)]
    job: JobArgs,
    /// Follow the job to its end: exit 0 if it succeeded, 1 if it failed.
    #[arg(short, long)]
    wait: bool,
    /// A name for the job, shown by `mr jobs` and `mr poll`.
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    coordinator: CoordinatorArg,
}

/// The submission with the inputs and output directory as absolute paths,
/// so workers with another working directory find them. Creates nothing:
/// the coordinator checks the inputs and the output folder, and creates the
/// folder only once it accepts the job.
pub(super) fn prepare_submission(job: &JobArgs) -> anyhow::Result<Submission> {
    if job.num_reduce == 0 {
        bail!("--num-reduce must be at least 1");
    }
    let files = job
        .files
        .iter()
        .map(|f| absolute(f))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Submission {
        files,
        output_dir: absolute(&job.output_dir)?,
        app: job.app.clone(),
        n_reduce: job.num_reduce,
        args: job.app_args.clone(),
        overwrite: job.overwrite,
        split_size: job.split_size,
        recursive: job.recursive,
        speculation: job.speculation.map(super::Switch::is_on),
    })
}

/// "job 3: 4 map tasks over 120 input files", for people (stderr).
pub(super) fn describe_tasks(s: &Submitted) -> String {
    if s.n_map == 0 {
        // An older coordinator (the course's) does not say.
        return format!("job {}: submitted", s.job_id);
    }
    let plural = |n: u32, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let mut text = format!("job {}: {}", s.job_id, plural(s.n_map, "map task"));
    if s.n_files > 0 {
        text.push_str(&format!(" over {}", plural(s.n_files, "input file")));
    }
    text
}

fn path_string(p: &Path) -> anyhow::Result<String> {
    p.to_str()
        .map(str::to_string)
        .with_context(|| format!("path {} is not valid UTF-8", p.display()))
}

fn absolute(p: &Path) -> anyhow::Result<String> {
    // Object storage URLs (`s3://bucket/key`) are kept as they are.
    if p.to_str().is_some_and(crate::storage::is_object) {
        return path_string(p);
    }
    let abs = std::path::absolute(p).with_context(|| format!("cannot resolve {}", p.display()))?;
    path_string(&abs)
}

impl SubmitCmd {
    pub(super) async fn run(self) -> anyhow::Result<ExitCode> {
        let submission = prepare_submission(&self.job)?;
        let submission_dir = submission.output_dir.clone();
        let client = self.coordinator.connect().await?;
        let label = JobLabel::for_this_user(self.name);
        let submitted = client.submit_labelled(submission, &label).await?;
        let job = submitted.job_id;
        out!("{job}");
        let _ = std::io::stdout().flush();
        eprintln!("{}", describe_tasks(&submitted));
        if !self.wait {
            return Ok(ExitCode::SUCCESS);
        }
        wait_and_report(&client, job, &submission_dir).await
    }
}

/// Follows `job` to its end and says how it ended; the exit code.
/// `output_dir` is where it was submitted to write, if known, for a
/// coordinator that does not say (the course's).
async fn wait_and_report(
    client: &Client,
    job: JobId,
    output_dir: &str,
) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let (mut view, code) = follow(client, job).await?;
    if view.output_dir.is_empty() {
        view.output_dir = output_dir.to_string();
    }
    let secs = started.elapsed().as_secs_f64();
    if view.failed {
        eprintln!(
            "job {job} {} after {secs:.2}s; output directory {}",
            view.state,
            shown(&view.output_dir)
        );
    } else {
        eprintln!(
            "job {job} succeeded in {secs:.2}s; output in {}",
            shown(&view.output_dir)
        );
    }
    Ok(code)
}

/// `mr wait`.
#[derive(Debug, clap::Args)]
pub struct WaitCmd {
    /// The job's id.
    job_id: u32,
    #[command(flatten)]
    coordinator: CoordinatorArg,
}

impl WaitCmd {
    pub(super) async fn run(self) -> anyhow::Result<ExitCode> {
        let client = self.coordinator.connect().await?;
        wait_and_report(&client, JobId(self.job_id), "").await
    }
}

/// `mr poll`.
#[derive(Debug, clap::Args)]
pub struct PollCmd {
    /// The job's id.
    job_id: u32,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    coordinator: CoordinatorArg,
}

impl PollCmd {
    pub(super) async fn run(self) -> anyhow::Result<ExitCode> {
        let client = self.coordinator.connect().await?;
        let job = JobId(self.job_id);
        let v = client
            .poll_through_restarts(job, RECONNECT_FOR, |e| {
                eprintln!("the coordinator went away ({e}); asking again about job {job}");
            })
            .await?;
        if self.json {
            out!("{}", serde_json::to_string(&v)?);
            return Ok(ExitCode::SUCCESS);
        }
        out!("job {} ({}): {}", v.job_id, shown(&v.app), v.state);
        if !v.name.is_empty() {
            out!("  name: {}", shown(&v.name));
        }
        if !v.submitted_by.is_empty() {
            out!("  submitted by: {}", shown(&v.submitted_by));
        }
        out!(
            "  maps:    {}/{} done, {} running",
            v.maps.done,
            v.maps.total,
            v.maps.running
        );
        out!(
            "  reduces: {}/{} done, {} running",
            v.reduces.done,
            v.reduces.total,
            v.reduces.running
        );
        let c = v.counters;
        out!(
            "  counters: input {} B in {} files, map output {} records / {} B, shuffle {} B, output {} records / {} B, {} attempts, {} failures",
            c.input_bytes,
            c.input_records,
            c.map_output_records,
            c.map_output_bytes,
            c.shuffle_bytes,
            c.reduce_output_records,
            c.reduce_output_bytes,
            c.task_attempts,
            c.task_failures
        );
        out!("  output: {}", shown(&v.output_dir));
        for n in &v.notes {
            out!("  note: {}", shown(n));
        }
        for e in &v.errors {
            out!("  error: {}", shown(e));
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `mr cancel`.
#[derive(Debug, clap::Args)]
pub struct CancelCmd {
    /// The job's id.
    job_id: u32,
    /// Print the job's state after the cancel as one JSON object (as `mr
    /// poll --json` does).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    coordinator: CoordinatorArg,
}

impl CancelCmd {
    pub(super) async fn run(self) -> anyhow::Result<ExitCode> {
        let v = self
            .coordinator
            .connect()
            .await?
            .cancel(JobId(self.job_id))
            .await?;
        if self.json {
            out!("{}", serde_json::to_string(&v)?);
        } else {
            out!("job {} {}", v.job_id, v.state);
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `mr process`.
#[derive(Debug, clap::Args)]
pub struct ProcessCmd {
    /// The job's output directory.
    #[arg(short = 'o', long = "output-dir", value_name = "DIR")]
    output_dir: PathBuf,
    /// The app that produced it (default: the one its manifest names).
    #[arg(short = 'a', long)]
    app: Option<String>,
    /// Number of output files (default: from the manifest; if given, it
    /// must agree with it).
    #[arg(short = 'n', long = "num-reduce")]
    num_reduce: Option<u32>,
    /// Read a folder without a `_SUCCESS` manifest (written by an older mr,
    /// or a job that did not finish): needs -a and -n, and nothing checks
    /// that the files belong to one job.
    #[arg(long, requires_all = ["app", "num_reduce"])]
    no_manifest: bool,
    #[command(flatten)]
    plugins: PluginsArg,
}

/// The app and partition count of the output in `dir`, from its manifest
/// (checked against `app` and `n_reduce` if given, and the files against
/// it), or as given with `no_manifest`.
pub(super) fn output_of(
    dir: &Path,
    app: Option<&str>,
    n_reduce: Option<u32>,
    no_manifest: bool,
) -> anyhow::Result<(String, u32)> {
    if no_manifest {
        let (Some(app), Some(n)) = (app, n_reduce) else {
            bail!("--no-manifest needs -a APP and -n N");
        };
        return Ok((app.to_string(), n));
    }
    let m = Manifest::read(dir)?;
    if let Some(given) = n_reduce.filter(|n| *n != m.n_reduce) {
        return Err(OutputError::WrongReduceCount {
            dir: dir.to_path_buf(),
            job: m.job_id,
            manifest: m.n_reduce,
            given,
        }
        .into());
    }
    if let Some(given) = app.filter(|a| *a != m.app) {
        return Err(OutputError::WrongApp {
            dir: dir.to_path_buf(),
            job: m.job_id,
            manifest: m.app,
            given: given.to_string(),
        }
        .into());
    }
    m.verify(dir)?;
    Ok((m.app, m.n_reduce))
}

/// Formats the `n_reduce` output files in `dir` with `app` into `out`.
pub(super) fn format_output(
    registry: &crate::plugin::Registry,
    app: &str,
    dir: &Path,
    n_reduce: u32,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let Some(entry) = registry.get(app) else {
        bail!(
            "unknown app {app:?}; available apps: {}",
            registry.names().join(", ")
        );
    };
    let mut records = OutputRecords::new(dir, n_reduce);
    let result = entry.app.format(&mut records, out);
    if let Some(e) = records.take_error() {
        return Err(e.into());
    }
    result.map_err(|e| anyhow::anyhow!("app {app} could not format the output: {e}"))
}

impl ProcessCmd {
    pub(super) fn run(self) -> anyhow::Result<ExitCode> {
        let url = self.output_dir.to_string_lossy();
        let staged = crate::storage::is_object(&url)
            .then(|| super::object_output::StagedOutput::fetch(&url))
            .transpose()?;
        let dir = staged
            .as_ref()
            .map_or(self.output_dir.as_path(), |s| s.path());
        let (app, n) = output_of(dir, self.app.as_deref(), self.num_reduce, self.no_manifest)?;
        let registry = super::serve::load_registry_with(&self.plugins, &app)?;
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        format_output(&registry, &app, dir, n, &mut out)?;
        out.flush().ok();
        Ok(ExitCode::SUCCESS)
    }
}
