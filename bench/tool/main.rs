//! `bench-tool`: the helpers behind `bench/run`.
//!
//! - `gen-text DIR MIB FILES`: text with a Zipf-like word distribution and
//!   some non-ASCII words, in FILES files totalling MIB MiB;
//! - `gen-text-kib DIR KIB FILES`: the same totalling KIB KiB (many tiny
//!   files);
//! - `gen-records DIR MIB FILES`: 100-byte sort records in the sort
//!   benchmark's ASCII format (10-byte key, 88 bytes, `\r\n`);
//! - `wc-seq OUT FILES...`: a sequential word count with `wc`'s semantics and
//!   output format (the baseline of the `wc` figure);
//! - `latency URL INPUT OUTDIR JOBS`: tiny `wc` jobs one after another
//!   through the client library, submit to completion; prints p50/p99;
//! - `submissions URL INPUT OUTDIR CLIENTS TOTAL`: TOTAL one-file jobs
//!   submitted by CLIENTS concurrent clients, not waited for; prints
//!   submissions per second and reply latency (durable ones with
//!   `--state-dir`);
//! - `sched URL INPUT WORKERS JOBS TASKS`: simulated workers that finish
//!   every task at once, over gRPC; prints completed tasks per second;
//! - `heartbeats URL PID WORKERS BEATS`: registers WORKERS simulated workers
//!   and sends BEATS heartbeats; prints the coordinator's (process PID) CPU
//!   time per 1,000 heartbeats;
//! - `flood URL HTTP_ADDR INPUT TASKS WATCHERS ROUNDS`: a job of TASKS
//!   tasks finished by simulated workers, quiet and then with WATCHERS open
//!   `WatchJob` streams on other jobs and a `/metrics` flood on HTTP_ADDR;
//!   prints both wall times (medians of ROUNDS) and their ratio.
//!
//! Every figure goes to stdout as `key=value` words for the script to pick.

mod flood;
mod generate;
mod simulate;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> anyhow::Result<T> {
    args.get(i)
        .with_context(|| format!("missing argument {what}"))?
        .parse()
        .map_err(|_| anyhow::anyhow!("bad {what}: {:?}", args[i]))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        bail!("usage: bench-tool gen-text|gen-text-kib|gen-records|wc-seq|latency|submissions|sched|heartbeats|flood ...");
    };
    match cmd.as_str() {
        "gen-text" => generate::text(
            &PathBuf::from(arg::<String>(&args, 1, "DIR")?),
            arg::<u64>(&args, 2, "MIB")? << 10,
            arg(&args, 3, "FILES")?,
        ),
        "gen-text-kib" => generate::text(
            &PathBuf::from(arg::<String>(&args, 1, "DIR")?),
            arg(&args, 2, "KIB")?,
            arg(&args, 3, "FILES")?,
        ),
        "gen-records" => generate::records(
            &PathBuf::from(arg::<String>(&args, 1, "DIR")?),
            arg(&args, 2, "MIB")?,
            arg(&args, 3, "FILES")?,
        ),
        "wc-seq" => wc_seq(&PathBuf::from(arg::<String>(&args, 1, "OUT")?), &args[2..]),
        "latency" => simulate::latency(
            &arg::<String>(&args, 1, "URL")?,
            &arg::<String>(&args, 2, "INPUT")?,
            &arg::<String>(&args, 3, "OUTDIR")?,
            arg(&args, 4, "JOBS")?,
        ),
        "submissions" => simulate::submissions(
            &arg::<String>(&args, 1, "URL")?,
            &arg::<String>(&args, 2, "INPUT")?,
            &arg::<String>(&args, 3, "OUTDIR")?,
            arg(&args, 4, "CLIENTS")?,
            arg(&args, 5, "TOTAL")?,
        ),
        "sched" => simulate::sched(
            &arg::<String>(&args, 1, "URL")?,
            &arg::<String>(&args, 2, "INPUT")?,
            arg(&args, 3, "WORKERS")?,
            arg(&args, 4, "JOBS")?,
            arg(&args, 5, "TASKS")?,
        ),
        "heartbeats" => simulate::heartbeats(
            &arg::<String>(&args, 1, "URL")?,
            arg(&args, 2, "PID")?,
            arg(&args, 3, "WORKERS")?,
            arg(&args, 4, "BEATS")?,
        ),
        "flood" => flood::flood(
            &arg::<String>(&args, 1, "URL")?,
            &arg::<String>(&args, 2, "HTTP_ADDR")?,
            &arg::<String>(&args, 3, "INPUT")?,
            arg(&args, 4, "TASKS")?,
            arg(&args, 5, "WATCHERS")?,
            arg(&args, 6, "ROUNDS")?,
        ),
        other => bail!("unknown command {other:?}"),
    }
}

/// The sequential word count: reads each file, counts with the same loop as
/// the `wc` app into one table, and prints it with the app's own `format`
/// (`count\tword` lines by count then word), as `mr process -a wc` does.
/// (Counting each file into a table of its own and adding those up
/// measured the same.)
fn wc_seq(out: &std::path::Path, files: &[String]) -> anyhow::Result<()> {
    use plugin_api::App;
    let start = Instant::now();
    let mut counts = mr_app_wc::WordCounts::default();
    let mut bytes = 0u64;
    for f in files {
        let data = std::fs::read(f).with_context(|| format!("reading {f}"))?;
        bytes += data.len() as u64;
        let text = std::str::from_utf8(&data).with_context(|| format!("{f} is not UTF-8"))?;
        mr_app_wc::count_words(text, &mut counts);
    }
    let rows: Vec<(String, [u8; 8])> = counts
        .into_iter()
        .map(|(w, n)| (w, n.to_be_bytes()))
        .collect();
    let mut records = TableRecords {
        rows: &rows,
        next: 0,
    };
    let mut file = std::fs::File::create(out)?;
    mr_app_wc::WordCount
        .format(&mut records, &mut file)
        .map_err(|e| anyhow::anyhow!("formatting: {e}"))?;
    println!(
        "seconds={:.3} bytes={bytes} words={}",
        start.elapsed().as_secs_f64(),
        rows.len()
    );
    Ok(())
}

/// A counted table as the records an app's `format` reads.
struct TableRecords<'a> {
    rows: &'a [(String, [u8; 8])],
    next: usize,
}

impl plugin_api::Records for TableRecords<'_> {
    fn next_record(&mut self) -> Option<(&[u8], &[u8])> {
        let (word, count) = self.rows.get(self.next)?;
        self.next += 1;
        Some((word.as_bytes(), count))
    }
}
