//! The `mr` command line: argument parsing ([`Cli`]), logging setup, and the
//! subcommands ([`serve`] for the coordinator and worker, [`jobs`] and
//! [`listings`] for the client commands, [`run`] for the embedded cluster).

mod config;
mod follow;
mod jobs;
mod listings;
mod object_output;
mod print;
mod progress;
mod run;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

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
/// Each setting: the flag, else its environment variable, else the
/// configuration file (`$MR_CONFIG`, else `~/.config/mr/config.toml`).
#[derive(Debug, Clone, clap::Args)]
struct CoordinatorArg {
    /// The coordinator's URL (https://... with TLS) [env: MR_COORDINATOR]
    /// [default: http://127.0.0.1:10162].
    #[arg(long)]
    coordinator: Option<String>,
    /// File holding the client token (default: the token in
    /// $MR_CLIENT_TOKEN, else the configuration file's token_file).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// TLS files [env: MR_TLS_CA, MR_TLS_CERT, MR_TLS_KEY].
    #[command(flatten)]
    tls: TlsArgs,
}

impl CoordinatorArg {
    /// The settings from the flags, the environment and the file.
    fn resolved(&self) -> anyhow::Result<config::Resolved> {
        let var = |name: &str| std::env::var(name).ok();
        let flags = config::Settings {
            coordinator: self.coordinator.clone(),
            token_file: self.token_file.clone(),
            token_value: false,
            tls_ca: self.tls.tls_ca.clone(),
            tls_cert: self.tls.tls_cert.clone(),
            tls_key: self.tls.tls_key.clone(),
        };
        let file = match config::config_path(var) {
            Some((path, required)) => config::from_file(&path, required)?,
            None => config::Settings::default(),
        };
        Ok(config::resolve(&[flags, config::from_env(var), file]))
    }

    async fn connect(&self) -> anyhow::Result<crate::client::Client> {
        let r = self.resolved()?;
        let token = Token::load(r.token_file.as_deref(), "MR_CLIENT_TOKEN")?;
        let tls = TlsFiles::load(
            r.tls_cert.as_ref(),
            r.tls_key.as_ref(),
            r.tls_ca.as_ref(),
            false,
        )?;
        let transport = Transport::new(tls, token.as_ref());
        Ok(crate::client::Client::connect_with(&r.coordinator, &transport).await?)
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
}

/// Where plugins are.
#[derive(Debug, Clone, clap::Args)]
struct PluginsArg {
    /// A folder of app plugins (repeatable). Default: $MR_PLUGINS, else the
    /// folder holding the `mr` executable.
    #[arg(long = "plugins", value_name = "DIR")]
    plugins: Vec<PathBuf>,
}

/// A feature switch given as `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Switch {
    On,
    Off,
}

impl Switch {
    fn is_on(self) -> bool {
        self == Switch::On
    }
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
    /// Backup attempts of this job's stragglers: `on` or `off`. Default:
    /// as the coordinator's --speculation says.
    #[arg(long, value_name = "on|off")]
    speculation: Option<Switch>,
    /// Most input bytes per map task, e.g. 64MiB or 512K: an app reading
    /// line records has larger files cut into splits, and small files are
    /// packed together; tasks are evened out below this size, their number
    /// a multiple of the live workers (never below 4 MiB a task). 0: one
    /// map task per file.
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
    /// Follow a submitted job to its end, as `mr submit --wait` does: exit 0
    /// if it succeeded, 1 if it failed.
    Wait(jobs::WaitCmd),
    /// Show a job's state, progress and errors.
    Poll(jobs::PollCmd),
    /// List every job.
    Jobs(listings::JobsCmd),
    /// List every worker.
    Workers(listings::ListCmd),
    /// List the coordinator's apps (`mr apps reload` rescans its plugin folders).
    Apps(listings::AppsCmd),
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
    /// Print a shell completion script (e.g. `mr completions bash >
    /// ~/.local/share/bash-completion/completions/mr`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print a manual page (roff): `mr man | man -l -`, `mr man submit`.
    Man {
        /// A subcommand's page instead of the summary.
        subcommand: Option<String>,
    },
}

fn init_logging(cli: &Cli, server: bool) {
    use tracing_subscriber::EnvFilter;
    let levels = ["error", "warn", "info", "debug", "trace"];
    let base: i32 = if server { 2 } else { 1 };
    let level = (base + i32::from(cli.verbose) - i32::from(cli.quiet)).clamp(0, 4) as usize;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(levels[level]));
    // Colour only for a person at a terminal, not in files or journals.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
            Command::Wait(c) => c.run().await,
            Command::Poll(c) => c.run().await,
            Command::Jobs(c) => c.run().await,
            Command::Workers(c) => c.workers().await,
            Command::Apps(c) => c.run().await,
            Command::Cancel(c) => c.run().await,
            Command::Process(c) => c.run(),
            Command::Run(c) => c.run().await,
            Command::Executor => Ok(ExitCode::SUCCESS),
            Command::Completions { shell } => {
                let mut cmd = <Cli as clap::CommandFactory>::command();
                clap_complete::generate(shell, &mut cmd, "mr", &mut std::io::stdout());
                Ok(ExitCode::SUCCESS)
            }
            Command::Man { subcommand } => man_page(subcommand.as_deref()),
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(code) => code,
        Err(e) if e.is::<follow::Interrupted>() => {
            eprintln!("mr: {e}");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("mr: {}", print::shown(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

/// Prints `mr`'s manual page, or one subcommand's.
fn man_page(subcommand: Option<&str>) -> anyhow::Result<ExitCode> {
    let cmd = <Cli as clap::CommandFactory>::command();
    let page_of = match subcommand {
        None => cmd,
        Some(name) => cmd
            .find_subcommand(name)
            .cloned()
            .map(|c| c.bin_name(format!("mr {name}")))
            .ok_or_else(|| anyhow::anyhow!("no subcommand {name:?}"))?,
    };
    let mut page = Vec::new();
    clap_mangen::Man::new(page_of).render(&mut page)?;
    std::io::Write::write_all(&mut std::io::stdout(), &page)?;
    Ok(ExitCode::SUCCESS)
}

/// Completes on Ctrl-C or SIGTERM, and starts a watchdog that ends the
/// process if it is still running well after `grace` (every drain is
/// bounded by `grace`; this is the backstop for one that is not).
async fn shutdown_signal(grace: std::time::Duration) {
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
    tracing::info!(grace_ms = grace.as_millis() as u64, "shutting down");
    let limit = grace * 2 + std::time::Duration::from_secs(1);
    let watchdog = std::thread::Builder::new()
        .name("shutdown-watchdog".into())
        .spawn(move || {
            std::thread::sleep(limit);
            eprintln!(
                "mr: still running {} ms after the shutdown request; exiting",
                limit.as_millis()
            );
            std::process::exit(1);
        });
    if let Err(e) = watchdog {
        tracing::warn!("cannot start the shutdown watchdog: {e}");
    }
}
