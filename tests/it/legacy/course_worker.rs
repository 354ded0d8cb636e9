//! A minimal course worker's side of the coordinator protocol: the
//! original `Register`, `Heartbeat`, `GetTask` and `FinishTask` calls (no
//! address, no session, no attempt), driven step by step by a test, as the
//! course's worker would make them. Written from the protocol, no course
//! code. It runs on its own runtime, so tests around it may block.

use tonic::Status;

use super::proto::coordinator as pb;
use super::proto::coordinator::coordinator_client::CoordinatorClient;

/// A registered course worker.
pub struct CourseWorker {
    /// The id the coordinator gave it.
    pub id: u32,
    client: CoordinatorClient<tonic::transport::Channel>,
    runtime: tokio::runtime::Runtime,
}

impl CourseWorker {
    /// Registers with the coordinator at `url`, as the course's worker
    /// does: with an empty request.
    pub fn register(url: &str) -> CourseWorker {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the course worker");
        let mut client = runtime
            .block_on(CoordinatorClient::connect(url.to_string()))
            .expect("connect to the coordinator");
        let id = runtime
            .block_on(client.register(pb::RegisterRequest {}))
            .expect("register")
            .into_inner()
            .worker_id;
        CourseWorker {
            id,
            client,
            runtime,
        }
    }

    /// One heartbeat.
    pub fn heartbeat(&mut self) -> Result<(), Status> {
        let request = pb::HeartbeatRequest { worker_id: self.id };
        self.runtime
            .block_on(self.client.heartbeat(request))
            .map(|_| ())
    }

    /// Asks for a task; `None` when told to wait.
    pub fn get_task(&mut self) -> Result<Option<pb::GetTaskReply>, Status> {
        let request = pb::GetTaskRequest { worker_id: self.id };
        let reply = self
            .runtime
            .block_on(self.client.get_task(request))?
            .into_inner();
        Ok((!reply.wait).then_some(reply))
    }

    /// Writes what a course reduce leaves, `mr-out-N` in the job's output
    /// folder (its contents are the course app's business: none here).
    pub fn write_output(&self, reduce: &pb::GetTaskReply) {
        let path = std::path::Path::new(&reduce.output_dir).join(format!("mr-out-{}", reduce.task));
        std::fs::write(&path, b"")
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Reports `task` finished.
    pub fn finish(&mut self, task: &pb::GetTaskReply) -> Result<(), Status> {
        let request = pb::FinishTaskRequest {
            worker_id: self.id,
            job_id: task.job_id,
            task: task.task,
            reduce: task.reduce,
        };
        self.runtime
            .block_on(self.client.finish_task(request))
            .map(|_| ())
    }
}
