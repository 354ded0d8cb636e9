//! Worker sessions: each registration gets a random 128-bit secret, and
//! every later worker RPC (`Heartbeat`, `GetTask`, `FinishTask`,
//! `FailTask`) must carry it for its worker id. Worker ids are small
//! integers anyone can guess; the secret is what makes a worker-token
//! holder unable to act as another worker (keep a dead worker "alive",
//! fail its task with a forged error, report its results).
//!
//! The core never sees the secrets: this is the service layer's map from
//! worker id to secret, checked before the core is called. Registration
//! also refuses an address that a live worker holds.
//!
//! Older workers send no secret. They are accepted only when the
//! coordinator has no worker token (then anyone may register anyway, and
//! the coordinator listens on loopback unless `--insecure`); with a worker
//! token they are refused with `PermissionDenied`.

use std::collections::HashMap;
use std::sync::Mutex;

use tonic::Status;

use crate::core::{Scheduler, WorkerId, WorkerState};

/// Bytes in a session secret.
pub const SECRET_LEN: usize = 16;

/// The session secrets of registered workers.
#[derive(Debug, Default)]
pub struct Sessions {
    secrets: Mutex<HashMap<WorkerId, [u8; SECRET_LEN]>>,
    /// Whether requests without a secret are refused (the coordinator has a
    /// worker token).
    require: bool,
}

impl Sessions {
    /// Sessions that refuse requests without a secret when `require`.
    pub fn new(require: bool) -> Self {
        Sessions {
            secrets: Mutex::default(),
            require,
        }
    }

    /// Gives `worker` a fresh secret and returns it.
    pub fn open(&self, worker: WorkerId) -> Result<Vec<u8>, Status> {
        let secret = random_secret()?;
        self.secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(worker, secret);
        Ok(secret.to_vec())
    }

    /// Checks that `presented` is `worker`'s secret. A wrong secret is
    /// `PermissionDenied`; a secret for a worker id this coordinator never
    /// gave one to is `NotFound` (a worker then registers again); no secret
    /// at all is allowed only without a worker token (older workers).
    pub fn check(&self, worker: WorkerId, presented: &[u8], method: &str) -> Result<(), Status> {
        if presented.is_empty() {
            if self.require {
                return Err(Status::permission_denied(format!(
                    "{method} for worker {worker} carries no session secret; this coordinator \
                     requires one (upgrade the worker)"
                )));
            }
            return Ok(());
        }
        let secrets = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        match secrets.get(&worker) {
            Some(expected) if constant_time_eq(expected, presented) => Ok(()),
            Some(_) => Err(Status::permission_denied(format!(
                "{method}: wrong session secret for worker {worker}"
            ))),
            None => Err(Status::not_found(format!(
                "{method}: no session for worker {worker}; register again"
            ))),
        }
    }
}

/// Refuses `address` if a live worker holds it: another registration for
/// it would have that worker's map output fetched from (and reduce tasks'
/// requests, with the worker token, sent to) whoever registered last.
pub fn check_address_free(
    core: &Scheduler,
    address: Option<&str>,
    now: std::time::Instant,
) -> Result<(), Status> {
    let Some(address) = address else {
        return Ok(());
    };
    let holder = core
        .worker_statuses(now)
        .into_iter()
        .find(|w| w.state == WorkerState::Alive && w.address.as_deref() == Some(address));
    match holder {
        Some(w) => Err(Status::already_exists(format!(
            "address {address} is held by live worker {}; a worker restarted there may register \
             again once that one is declared dead",
            w.id
        ))),
        None => Ok(()),
    }
}

/// A secret from the kernel's random source.
fn random_secret() -> Result<[u8; SECRET_LEN], Status> {
    let mut secret = [0u8; SECRET_LEN];
    let mut filled = 0;
    while filled < SECRET_LEN {
        let n =
            rustix::rand::getrandom(&mut secret[filled..], rustix::rand::GetRandomFlags::empty())
                .map_err(|e| Status::internal(format!("cannot draw a session secret: {e}")))?;
        filled += n;
    }
    Ok(secret)
}

/// Compares in a time that depends only on the lengths.
fn constant_time_eq(ours: &[u8], presented: &[u8]) -> bool {
    let mut diff = ours.len() ^ presented.len();
    for (i, b) in ours.iter().enumerate() {
        diff |= usize::from(b ^ presented.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn only_the_registered_secret_passes() {
        let s = Sessions::new(true);
        let a = s.open(WorkerId(1)).unwrap();
        let b = s.open(WorkerId(2)).unwrap();
        assert_eq!(a.len(), SECRET_LEN);
        assert_ne!(a, b);
        assert!(s.check(WorkerId(1), &a, "Heartbeat").is_ok());
        let e = s.check(WorkerId(1), &b, "Heartbeat").unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
        let e = s.check(WorkerId(1), &a[..8], "Heartbeat").unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
        let e = s.check(WorkerId(1), &[], "Heartbeat").unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
        let e = s.check(WorkerId(9), &a, "Heartbeat").unwrap_err();
        assert_eq!(e.code(), Code::NotFound);
    }

    #[test]
    fn a_new_registration_replaces_nothing_but_its_own() {
        let s = Sessions::new(false);
        let a = s.open(WorkerId(1)).unwrap();
        assert!(
            s.check(WorkerId(1), &[], "GetTask").is_ok(),
            "legacy worker without tokens"
        );
        assert!(s.check(WorkerId(1), &a, "GetTask").is_ok());
        let e = s
            .check(WorkerId(1), &[7; SECRET_LEN], "GetTask")
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
    }
}
