//! The `mr` command line: argument parsing ([`Cli`]), logging setup, and the
//! subcommands ([`serve`] for the coordinator and worker, [`jobs`] for the
//! client commands, [`run`] for the embedded cluster).

mod follow;
mod jobs;
mod object_output;
mod print;
mod progress;
mod run;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::client::DEFAULT_COORDINATOR;
use crate::security::{TlsFiles, Token, Transport};

/// A MapReduce engine whose applications are plugins.
#[derive(Debug, Parser)]
#[command(name = "mr", version, about, propagate_version = true)]
pub struct Cli {
    /// More log output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Less log output.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    quiet: u8,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Where the coordinator is, for client commands, and how to reach it.
#[derive(Debug, Clone, clap::Args)]
struct CoordinatorArg {
    /// The coordinator's URL (https://... with TLS).
    #[arg(long, env = "MR_COORDINATOR", default_value = DEFAULT_COORDINATOR)]
    coordinator: String,
    /// File holding the client token (default: $MR_CLIENT_TOKEN).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    #[command(flatten)]
    tls: TlsArgs,
}

impl CoordinatorArg {
    fn transport(&self) -> anyhow::Result<Transport> {
        let token = Token::load(self.token_file.as_deref(), "MR_CLIENT_TOKEN")?;
        Ok(Transport::new(self.tls.load()?, token.as_ref()))
    }

    async fn connect(&self) -> anyhow::Result<crate::client::Client> {
        Ok(crate::client::Client::connect_with(&self.coordinator, &self.transport()?).await?)
    }
}

/// TLS files.
#[derive(Debug, Clone, clap::Args)]
struct TlsArgs {
    /// CA certificate (PEM) that peers' certificates are checked against.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// This process's certificate (PEM): served by servers, presented by
    /// clients to servers that require client certificates.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

impl TlsArgs {
    fn load_with(&self, require_client_cert: bool) -> anyhow::Result<Option<TlsFiles>> {
        Ok(TlsFiles::load(
            self.tls_cert.as_ref(),
            self.tls_key.as_ref(),
            self.tls_ca.as_ref(),
            require_client_cert,
        )?)
    }

    fn load(&self) -> anyhow::Result<Option<TlsFiles>> {
        self.load_with(false)
    }
}

/// Where plugins are.
#[derive(Debug, Clone, clap::Args)]
struct PluginsArg {
    /// A folder of app plugins (repeatable). Default: $MR_PLUGINS, else the
    /// folder holding the `mr` executable.
    #[arg(long = "plugins", value_name = "DIR")]
    plugins: Vec<PathBuf>,
}

/// The job options shared by `mr submit` and `mr run`.
#[derive(Debug, Clone, clap::Args)]
struct JobArgs {
    /// Inputs: files, folders (the files in them, skipping names that
    /// start with `.` or `_`) and glob patterns (quote them: `'logs/*.txt'`,
    /// `**` for any depth), expanded by the coordinator.
    #[arg(required = true, value_name = "INPUTS")]
    files: Vec<PathBuf>,
    /// Read the subfolders of input folders too.
    #[arg(short = 'r', long)]
    recursive: bool,
    /// Target input bytes per map task, e.g. 64MiB or 512K: an app reading
    /// line records has larger files cut into splits of this size, and small
    /// files are packed into one task up to it. 0: one map task per file.
    #[arg(long, value_name = "BYTES", default_value = "64MiB",
          value_parser = crate::worker::spill::parse_byte_size)]
    split_size: u64,
    /// Output directory: created if missing; a non-empty one is refused
    /// unless --overwrite.
    #[arg(short = 'o', long = "output-dir", value_name = "DIR")]
    output_dir: PathBuf,
    /// Replace an earlier job's output in the output directory (its
    /// mr-out-* files and _SUCCESS manifest); other files are never removed
    /// (a folder holding any is still refused).
    #[arg(long)]
    overwrite: bool,
    /// The app to run.
    #[arg(short = 'a', long)]
    app: String,
    /// Number of reduce tasks (output files).
    #[arg(short = 'n', long = "num-reduce", default_value_t = 5)]
    num_reduce: u32,
    /// Arguments for the app, after `--`.
    #[arg(last = true, value_name = "APP_ARGS")]
    app_args: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the coordinator.
    Coordinator(serve::CoordinatorCmd),
    /// Run a worker.
    Worker(serve::WorkerCmd),
    /// Submit a job; prints its id.
    Submit(jobs::SubmitCmd),
    /// Show a job's state, progress and errors.
    Poll(jobs::PollCmd),
    /// List every job.
    Jobs(jobs::ListCmd),
    /// List every worker.
    Workers(jobs::ListCmd),
    /// List the coordinator's apps (`mr apps reload` rescans its plugin folders).
    Apps(jobs::AppsCmd),
    /// Cancel a job: no more of its tasks run and workers drop its data.
    Cancel(jobs::CancelCmd),
    /// Print a finished job's output, formatted by its app.
    Process(jobs::ProcessCmd),
    /// Run a job on an embedded coordinator and workers, then print its output.
    Run(run::RunCmd),
    /// Internal: a worker's executor process, which runs app code for it
    /// over its stdin/stdout (started by `mr worker`, not by hand).
    #[command(hide = true)]
    Executor,
}

fn init_logging(cli: &Cli, server: bool) {
    use tracing_subscriber::EnvFilter;
    let levels = ["error", "warn", "info", "debug", "trace"];
    let base: i32 = if server { 2 } else { 1 };
    let level = (base + i32::from(cli.verbose) - i32::from(cli.quiet)).clamp(0, 4) as usize;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(levels[level]));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Parses the command line and runs it; the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let server = matches!(
        cli.command,
        Command::Coordinator(_) | Command::Worker(_) | Command::Executor
    );
    init_logging(&cli, server);
    if matches!(cli.command, Command::Executor) {
        // Synchronous, no runtime: one request at a time from the worker.
        return match crate::worker::child::run_executor() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mr executor: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mr: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Coordinator(c) => c.run().await,
            Command::Worker(c) => c.run().await,
            Command::Submit(c) => c.run().await,
            Command::Poll(c) => c.run().await,
            Command::Jobs(c) => c.jobs().await,
            Command::Workers(c) => c.workers().await,
            Command::Apps(c) => c.run().await,
            Command::Cancel(c) => c.run().await,
            Command::Process(c) => c.run(),
            Command::Run(c) => c.run().await,
            Command::Executor => Ok(ExitCode::SUCCESS),
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mr: {}", print::shown(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}
