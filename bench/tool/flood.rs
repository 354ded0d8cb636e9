//! The flood benchmark: one job's wall time on a quiet coordinator, then
//! with thousands of open `WatchJob` streams on other jobs and a `/metrics`
//! flood. Simulated workers finish every task at once, so the time is the
//! coordinator's own work (what a flood could slow down), not the apps'.
//!
//! Setup: a "holder" worker takes every task of `OTHER_JOBS` other jobs
//! and never finishes them, so those jobs stay running (and watched)
//! without taking work from the measured job.
#![allow(clippy::needless_update)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mapreduce::proto::coordinator as pb;
use mapreduce::proto::coordinator::coordinator_client::CoordinatorClient;
use tonic::transport::Channel;

use crate::simulate::{channel, runtime, simulated_worker};

/// Jobs kept running by the holder, for the watchers to watch.
const OTHER_JOBS: usize = 5;
/// Map tasks of each of them.
const OTHER_TASKS: usize = 500;
/// Simulated workers running the measured job.
const WORKERS: usize = 16;
/// Concurrent `/metrics` clients (`FLOOD_SCRAPERS` overrides).
const SCRAPERS: usize = 8;

/// Runs the benchmark: `tasks` tasks in the measured job, `watchers` open
/// streams, `rounds` runs each of quiet and loaded (medians reported).
pub fn flood(
    url: &str,
    http: &str,
    input: &str,
    tasks: usize,
    watchers: usize,
    rounds: usize,
) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let channels = {
            let mut v = Vec::new();
            for _ in 0..8 {
                v.push(channel(url).await?);
            }
            v
        };
        let ch = channels[0].clone();
        let others = hold_other_jobs(&ch, input).await?;
        let ids = register(&ch, 1..1 + WORKERS).await?;

        let mut quiet = Vec::new();
        for r in 0..rounds {
            quiet.push(run_job(&ch, &ids, input, tasks, &format!("quiet-{r}")).await?);
        }

        let mut streams = tokio::task::JoinSet::new();
        for i in 0..watchers {
            let mut c = CoordinatorClient::new(channels[i % channels.len()].clone());
            let job = others[i % others.len()];
            let mut s = c
                .watch_job(pb::PollJobRequest {
                    job_id: job,
                    ..Default::default()
                })
                .await?
                .into_inner();
            streams.spawn(async move { while let Ok(Some(_)) = s.message().await {} });
        }
        let stop = Arc::new(AtomicBool::new(false));
        let scraped = Arc::new(AtomicU64::new(0));
        let n_scrapers = std::env::var("FLOOD_SCRAPERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(SCRAPERS);
        let scrapers: Vec<_> = (0..n_scrapers)
            .map(|_| {
                let (stop, scraped, http) = (stop.clone(), scraped.clone(), http.to_string());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        if scrape(&http).is_ok() {
                            scraped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        let flood_started = Instant::now();
        let mut loaded = Vec::new();
        for r in 0..rounds {
            loaded.push(run_job(&ch, &ids, input, tasks, &format!("loaded-{r}")).await?);
        }
        stop.store(true, Ordering::Relaxed);
        let scrapes_per_s = scraped.load(Ordering::Relaxed) as f64 / flood_started.elapsed().as_secs_f64();
        for s in scrapers {
            let _ = s.join();
        }
        let open = streams.len();
        streams.abort_all();
        let (q, l) = (median(&mut quiet), median(&mut loaded));
        println!(
            "tasks={tasks} watchers={open} quiet_s={q:.3} loaded_s={l:.3} ratio={:.2} metrics_per_s={scrapes_per_s:.0}",
            l / q
        );
        Ok(())
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One `GET /metrics` over HTTP/1.1, read to the end.
fn scrape(addr: &str) -> std::io::Result<()> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    )?;
    let mut body = Vec::new();
    s.read_to_end(&mut body)?;
    Ok(())
}

/// Registers a simulated worker for each index in `which` (its address
/// made from the index, so each is distinct).
async fn register(ch: &Channel, which: std::ops::Range<usize>) -> anyhow::Result<Vec<u32>> {
    let mut c = CoordinatorClient::new(ch.clone());
    let mut ids = Vec::new();
    for i in which {
        let r = c
            .register(pb::RegisterRequest {
                address: crate::simulate::fake_address(i),
                ..Default::default()
            })
            .await?;
        ids.push(r.into_inner().worker_id);
    }
    Ok(ids)
}

/// Submits the other jobs and has one worker take all their tasks.
async fn hold_other_jobs(ch: &Channel, input: &str) -> anyhow::Result<Vec<u32>> {
    let mut c = CoordinatorClient::new(ch.clone());
    let mut jobs = Vec::new();
    for j in 0..OTHER_JOBS {
        let r = c
            .submit_job(pb::SubmitJobRequest {
                files: vec![input.to_string(); OTHER_TASKS],
                output_dir: format!("/tmp/mr-bench-flood-out/other-{j}"),
                app: "wc".into(),
                n_reduce: 1,
                overwrite: true,
                ..Default::default()
            })
            .await?;
        jobs.push(r.into_inner().job_id);
    }
    let holder = register(ch, 0..1).await?[0];
    for _ in 0..OTHER_JOBS * OTHER_TASKS {
        let reply = c
            .get_task(pb::GetTaskRequest {
                worker_id: holder,
                ..Default::default()
            })
            .await?
            .into_inner();
        anyhow::ensure!(!reply.wait, "the holder got no task");
    }
    Ok(jobs)
}

/// Submits a job of `tasks` tasks and has the simulated workers finish
/// it; its wall time in seconds.
async fn run_job(
    ch: &Channel,
    ids: &[u32],
    input: &str,
    tasks: usize,
    name: &str,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    CoordinatorClient::new(ch.clone())
        .submit_job(pb::SubmitJobRequest {
            files: vec![input.to_string(); tasks - 1],
            output_dir: format!("/tmp/mr-bench-flood-out/{name}"),
            app: "wc".into(),
            n_reduce: 1,
            overwrite: true,
            ..Default::default()
        })
        .await?;
    let done = Arc::new(AtomicU64::new(0));
    let mut set = tokio::task::JoinSet::new();
    for &id in ids {
        set.spawn(simulated_worker(
            ch.clone(),
            id,
            100,
            done.clone(),
            tasks as u64,
        ));
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(started.elapsed().as_secs_f64())
}
