//! A minimal coordinator speaking only the course's original RPCs (written
//! for these tests from the protocol, no course code): FIFO jobs, maps
//! first, then reduces told where each map's output lives by worker id
//! alone (the course dials `127.0.0.1:(10163 + id)`), failures retried or
//! failing the job, no timeouts. Like the course's, it answers `PollJob`
//! for a failed job with `failed` but not `done`. It runs on its own
//! runtime, so tests around it may block.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tonic::{Request, Response, Status};

use super::proto::coordinator as pb;
use super::proto::coordinator::coordinator_server::{Coordinator, CoordinatorServer};

/// One task's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Pending,
    Running,
    /// Finished by that worker (for maps: the holder of its output).
    Done(u32),
}

#[derive(Debug)]
struct Job {
    request: pb::SubmitJobRequest,
    maps: Vec<Slot>,
    reduces: Vec<Slot>,
    error: Option<String>,
}

impl Job {
    fn succeeded(&self) -> bool {
        self.reduces.iter().all(|s| matches!(s, Slot::Done(_)))
    }
    fn ended(&self) -> bool {
        self.error.is_some() || self.succeeded()
    }
}

/// What the coordinator knows, shared with the test.
#[derive(Debug, Default)]
pub struct State {
    next_worker: u32,
    jobs: Vec<Job>,
    /// Every report received: (worker, job, reduce?, task, finished?).
    pub reports: Vec<(u32, u32, bool, u32, bool)>,
    /// Hand reduces to this worker only (a test's choice, so a reduce
    /// must fetch every map output from another worker).
    pub reduces_only_to: Option<u32>,
}

impl State {
    fn job(&mut self, id: u32) -> Result<&mut Job, Status> {
        self.jobs
            .get_mut(id as usize)
            .ok_or_else(|| Status::not_found(format!("no job {id}")))
    }

    fn next_task(&mut self, worker: u32) -> pb::GetTaskReply {
        let may_reduce = self.reduces_only_to.is_none_or(|w| w == worker);
        for (id, job) in self.jobs.iter_mut().enumerate() {
            if job.ended() {
                continue;
            }
            let r = &job.request;
            let base = pb::GetTaskReply {
                job_id: id as u32,
                output_dir: r.output_dir.clone(),
                app: r.app.clone(),
                n_reduce: r.n_reduce,
                n_map: job.maps.len() as u32,
                args: r.args.clone(),
                ..Default::default()
            };
            if let Some(m) = job.maps.iter().position(|s| *s == Slot::Pending) {
                job.maps[m] = Slot::Running;
                return pb::GetTaskReply {
                    task: m as u32,
                    file: r.files[m].clone(),
                    ..base
                };
            }
            let holders: Option<Vec<u32>> = job
                .maps
                .iter()
                .map(|s| match s {
                    Slot::Done(w) => Some(*w),
                    _ => None,
                })
                .collect();
            let Some(holders) = holders.filter(|_| may_reduce) else {
                continue;
            };
            if let Some(t) = job.reduces.iter().position(|s| *s == Slot::Pending) {
                job.reduces[t] = Slot::Running;
                return pb::GetTaskReply {
                    task: t as u32,
                    reduce: true,
                    map_task_assignments: holders
                        .into_iter()
                        .zip(0..)
                        .map(|(worker_id, task)| pb::MapTaskAssignment { task, worker_id })
                        .collect(),
                    ..base
                };
            }
        }
        pb::GetTaskReply {
            wait: true,
            ..Default::default()
        }
    }
}

/// The service: every handler locks the state, acts, unlocks.
#[derive(Clone)]
struct Service(Arc<Mutex<State>>);

impl Service {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[tonic::async_trait]
impl Coordinator for Service {
    async fn submit_job(
        &self,
        request: Request<pb::SubmitJobRequest>,
    ) -> Result<Response<pb::SubmitJobReply>, Status> {
        let job_id = self.state().submit(request.into_inner());
        Ok(Response::new(pb::SubmitJobReply { job_id }))
    }

    async fn poll_job(
        &self,
        request: Request<pb::PollJobRequest>,
    ) -> Result<Response<pb::PollJobReply>, Status> {
        let mut state = self.state();
        let job = state.job(request.get_ref().job_id)?;
        Ok(Response::new(pb::PollJobReply {
            done: job.succeeded(),
            failed: job.error.is_some(),
            errors: job.error.iter().cloned().collect(),
        }))
    }

    async fn heartbeat(
        &self,
        _: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatReply>, Status> {
        Ok(Response::new(pb::HeartbeatReply {}))
    }

    async fn register(
        &self,
        _: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterReply>, Status> {
        Ok(Response::new(pb::RegisterReply {
            worker_id: self.state().new_worker(),
        }))
    }

    async fn get_task(
        &self,
        request: Request<pb::GetTaskRequest>,
    ) -> Result<Response<pb::GetTaskReply>, Status> {
        let worker = request.get_ref().worker_id;
        Ok(Response::new(self.state().next_task(worker)))
    }

    async fn finish_task(
        &self,
        request: Request<pb::FinishTaskRequest>,
    ) -> Result<Response<pb::FinishTaskReply>, Status> {
        let r = request.into_inner();
        let mut state = self.state();
        state
            .reports
            .push((r.worker_id, r.job_id, r.reduce, r.task, true));
        let job = state.job(r.job_id)?;
        let slots = if r.reduce {
            &mut job.reduces
        } else {
            &mut job.maps
        };
        let slot = slots
            .get_mut(r.task as usize)
            .ok_or_else(|| Status::invalid_argument("no such task"))?;
        *slot = Slot::Done(r.worker_id);
        Ok(Response::new(pb::FinishTaskReply {}))
    }

    async fn fail_task(
        &self,
        request: Request<pb::FailTaskRequest>,
    ) -> Result<Response<pb::FailTaskReply>, Status> {
        let r = request.into_inner();
        let mut state = self.state();
        state
            .reports
            .push((r.worker_id, r.job_id, r.reduce, r.task, false));
        let job = state.job(r.job_id)?;
        if !r.retry {
            job.error.get_or_insert(r.error);
        }
        let slots = if r.reduce {
            &mut job.reduces
        } else {
            &mut job.maps
        };
        if let Some(slot) = slots.get_mut(r.task as usize) {
            *slot = Slot::Pending;
        }
        Ok(Response::new(pb::FailTaskReply {}))
    }
}

impl State {
    fn new_worker(&mut self) -> u32 {
        self.next_worker += 1;
        self.next_worker
    }

    fn submit(&mut self, request: pb::SubmitJobRequest) -> u32 {
        self.jobs.push(Job {
            maps: vec![Slot::Pending; request.files.len()],
            reduces: vec![Slot::Pending; request.n_reduce as usize],
            request,
            error: None,
        });
        self.jobs.len() as u32 - 1
    }
}

/// A running legacy coordinator; stops when dropped.
pub struct LegacyCoordinator {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state, for the test to arrange and inspect.
    pub state: Arc<Mutex<State>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl LegacyCoordinator {
    /// Starts one on `127.0.0.1:0`.
    pub fn start() -> LegacyCoordinator {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the legacy coordinator");
        let state = Arc::new(Mutex::new(State::default()));
        let service = CoordinatorServer::new(Service(Arc::clone(&state)));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind the legacy coordinator");
        let addr = listener.local_addr().expect("its address");
        runtime.spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        LegacyCoordinator {
            addr,
            state,
            runtime: Some(runtime),
        }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Locks the state.
    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a worker that is not a process (a [`super::peer_worker`]),
    /// as `Register` would; its id.
    pub fn register_peer(&self) -> u32 {
        self.state().new_worker()
    }

    /// Submits a job as `SubmitJob` would; its id.
    pub fn submit(&self, request: pb::SubmitJobRequest) -> u32 {
        self.state().submit(request)
    }

    /// Records map `map` of `job` as finished by `worker` (whose output a
    /// peer worker serves).
    pub fn map_done_by(&self, job: u32, map: u32, worker: u32) {
        let mut state = self.state();
        state.jobs[job as usize].maps[map as usize] = Slot::Done(worker);
    }

    /// How many of `job`'s maps are done.
    pub fn maps_done(&self, job: u32) -> usize {
        let state = self.state();
        state.jobs[job as usize]
            .maps
            .iter()
            .filter(|s| matches!(s, Slot::Done(_)))
            .count()
    }

    /// Whether `job` succeeded; its error if it failed.
    pub fn outcome(&self, job: u32) -> Option<Result<(), String>> {
        let mut state = self.state();
        let job = state.job(job).ok()?;
        match &job.error {
            Some(e) => Some(Err(e.clone())),
            None => job.succeeded().then_some(Ok(())),
        }
    }
}

impl Drop for LegacyCoordinator {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
