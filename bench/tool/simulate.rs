//! Client-side benchmarks against a running coordinator: tiny-job latency
//! through the client library, and simulated workers over raw gRPC.
//!
//! Request literals end in `..Default::default()` even when complete, so
//! that fields the protocol gains later do not break this tool.
#![allow(clippy::needless_update)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use mapreduce::client::{Client, JobState, Submission};
use mapreduce::proto::coordinator as pb;
use mapreduce::proto::coordinator::coordinator_client::CoordinatorClient;
use tonic::transport::{Channel, Endpoint};

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

pub(crate) async fn channel(url: &str) -> anyhow::Result<Channel> {
    Endpoint::from_shared(url.to_string())?
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("connecting to {url}"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A one-reduce `wc` job over `input` into `output_dir`, replacing what an
/// earlier run left there (the bench folder may hold its output).
fn wc_job(input: &str, output_dir: String) -> Submission {
    Submission {
        files: vec![input.to_string()],
        output_dir,
        app: "wc".into(),
        n_reduce: 1,
        overwrite: true,
        ..Submission::default()
    }
}

/// `jobs` one-file `wc` jobs, one after another: submit, then follow to the
/// end with `Client::wait`.
pub fn latency(url: &str, input: &str, out_dir: &str, jobs: usize) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let client = Client::connect(url).await?;
        let mut times = Vec::with_capacity(jobs);
        for i in 0..jobs {
            let started = Instant::now();
            let id = client
                .submit(wc_job(input, format!("{out_dir}/job-{i}")))
                .await?;
            let view = client.wait(id, |_| {}).await?;
            anyhow::ensure!(view.state == JobState::Succeeded, "job {id}: {view:?}");
            times.push(started.elapsed());
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "jobs={jobs} p50_ms={:.1} p99_ms={:.1} max_ms={:.1}",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            ms(*times.last().unwrap())
        );
        Ok(())
    })
}

/// `total` one-file `wc` submissions from `clients` concurrent clients
/// (each its own connection), none waited for: with no worker the jobs
/// queue. Prints accepted submissions per second (with `--state-dir`, each
/// was synced before its reply) and the reply latency p50/p99.
pub fn submissions(
    url: &str,
    input: &str,
    out_dir: &str,
    clients: usize,
    total: usize,
) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let mut conns = Vec::with_capacity(clients);
        for _ in 0..clients {
            conns.push(Client::connect(url).await?);
        }
        let next = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for client in conns {
            let next = next.clone();
            let (input, out_dir) = (input.to_string(), out_dir.to_string());
            set.spawn(async move {
                let mut times = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if i >= total {
                        return Ok::<_, anyhow::Error>(times);
                    }
                    let t = Instant::now();
                    client
                        .submit(wc_job(&input, format!("{out_dir}/sub-{i}")))
                        .await?;
                    times.push(t.elapsed());
                }
            });
        }
        let mut times = Vec::with_capacity(total);
        while let Some(r) = set.join_next().await {
            times.extend(r??);
        }
        let secs = started.elapsed().as_secs_f64();
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "submissions={total} clients={clients} per_s={:.0} p50_ms={:.1} p99_ms={:.1}",
            total as f64 / secs,
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
        );
        Ok(())
    })
}

/// `workers` simulated workers take and finish tasks at once while `jobs`
/// jobs of `tasks` tasks each (`tasks - 1` maps and one reduce) run.
pub fn sched(
    url: &str,
    input: &str,
    workers: usize,
    jobs: usize,
    tasks: usize,
) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let ch = channel(url).await?;
        let mut ids = Vec::new();
        for i in 0..workers {
            let mut c = CoordinatorClient::new(ch.clone());
            let r = c
                .register(pb::RegisterRequest {
                    address: fake_address(i),
                    ..Default::default()
                })
                .await?;
            ids.push(r.into_inner().worker_id);
        }
        let total = (jobs * tasks) as u64;
        let done = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut sub = CoordinatorClient::new(ch.clone());
        for j in 0..jobs {
            // One folder per job: two unfinished jobs may not share one.
            sub.submit_job(pb::SubmitJobRequest {
                files: vec![input.to_string(); tasks - 1],
                output_dir: format!("/tmp/mr-bench-sched-out/{j}"),
                app: "wc".into(),
                n_reduce: 1,
                ..Default::default()
            })
            .await?;
        }
        let submitted = started.elapsed();
        let mut handles = Vec::new();
        for id in ids {
            let (ch, done) = (ch.clone(), done.clone());
            handles.push(tokio::spawn(simulated_worker(ch, id, 200, done, total)));
        }
        for h in handles {
            h.await??;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "workers={workers} tasks={total} seconds={secs:.3} submit_seconds={:.3} tasks_per_s={:.0}",
            submitted.as_secs_f64(),
            total as f64 / secs
        );
        Ok(())
    })
}

/// CPU seconds (user + system) of process `pid` so far.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')').context("malformed stat")? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    Ok(ticks / 100.0) // USER_HZ is 100 on Linux
}

/// Registers `workers` simulated workers, then sends `beats` heartbeats
/// spread over them (64 in flight); prints the coordinator's CPU per 1,000.
pub fn heartbeats(url: &str, pid: u32, workers: usize, beats: usize) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let channels: Vec<Channel> = {
            let mut v = Vec::new();
            for _ in 0..8 {
                v.push(channel(url).await?);
            }
            v
        };
        let reg_started = Instant::now();
        let mut ids = Vec::with_capacity(workers);
        for chunk in 0..workers.div_ceil(256) {
            let mut set = tokio::task::JoinSet::new();
            for i in 0..256.min(workers - chunk * 256) {
                let mut c = CoordinatorClient::new(channels[i % channels.len()].clone());
                let address = fake_address(chunk * 256 + i);
                set.spawn(async move {
                    c.register(pb::RegisterRequest {
                        address,
                        ..Default::default()
                    })
                    .await
                    .map(|r| r.into_inner().worker_id)
                });
            }
            while let Some(r) = set.join_next().await {
                ids.push(r??);
            }
        }
        let reg_secs = reg_started.elapsed().as_secs_f64();
        let ids = Arc::new(ids);
        let next = Arc::new(AtomicU64::new(0));
        let cpu0 = cpu_seconds(pid)?;
        let started = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for t in 0..64 {
            let mut c = CoordinatorClient::new(channels[t % channels.len()].clone());
            let (ids, next) = (ids.clone(), next.clone());
            set.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if i >= beats {
                        return anyhow::Ok(());
                    }
                    c.heartbeat(pb::HeartbeatRequest {
                        worker_id: ids[i % ids.len()],
                        ..Default::default()
                    })
                    .await?;
                }
            });
        }
        while let Some(r) = set.join_next().await {
            r??;
        }
        let secs = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds(pid)? - cpu0;
        println!(
            "workers={workers} beats={beats} register_seconds={reg_secs:.2} beats_per_s={:.0} cpu_ms_per_1000={:.1}",
            beats as f64 / secs,
            cpu * 1e3 / (beats as f64 / 1000.0)
        );
        Ok(())
    })
}

/// A simulated worker `id`: asks for tasks (long-polling `long_poll_ms`)
/// and reports each finished at once, until `done` reaches `total`.
pub async fn simulated_worker(
    ch: Channel,
    id: u32,
    long_poll_ms: u32,
    done: Arc<AtomicU64>,
    total: u64,
) -> anyhow::Result<()> {
    let mut c = CoordinatorClient::new(ch);
    while done.load(Ordering::Relaxed) < total {
        let reply = c
            .get_task(pb::GetTaskRequest {
                worker_id: id,
                long_poll_ms,
                idle: true,
                ..Default::default()
            })
            .await?
            .into_inner();
        if reply.wait {
            continue;
        }
        c.finish_task(pb::FinishTaskRequest {
            worker_id: id,
            job_id: reply.job_id,
            task: reply.task,
            reduce: reply.reduce,
            attempt: reply.attempt,
            counters: Some(Default::default()),
            ..Default::default()
        })
        .await?;
        done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// A distinct address for simulated worker `i` (nothing listens there): a
/// live worker's address cannot be registered again.
pub fn fake_address(i: usize) -> String {
    format!("127.0.{}.1:{}", i / 50_000, 10_000 + i % 50_000)
}
