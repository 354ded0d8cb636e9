//! App code in a child process the worker supervises (`mr executor`), so
//! that an app that crashes (a segfault, an abort, `exit(1)`, the kernel's
//! OOM kill) takes down only that process and the attempt it was running,
//! and the worker knows how it died: evidence it reports with the failure
//! (`FailTask.crash_cause`), which the coordinator holds against the task.
//! The worker keeps and serves the map output; the executor only computes.
//!
//! - [`serve`]: the executor process: reads requests on stdin, runs the
//!   app, writes replies on its original stdout (the app's own prints go to
//!   stderr);
//! - [`frame`]: a reduce request encoded in parts, its runs in memory
//!   written as they are;
//! - [`supervisor`]: the worker's side: starts an executor when needed,
//!   sends one request at a time, and on a lost pipe waits for the child and
//!   names its death ([`describe_exit`]).
//!
//! Messages are `proto/executor.proto`, each framed by a 4-byte big-endian
//! length.

pub mod frame;
pub mod serve;
pub mod supervisor;

use std::io::{self, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

pub use serve::run_executor;
pub use supervisor::{CallError, Supervisor};

/// How a map output file the executor moved into its worker's scratch
/// folder is named (`executor-map-output-PID-N`); the worker adopts only
/// files of that name directly in its folder.
pub(crate) const HANDED_OVER_PREFIX: &str = "executor-map-output-";

/// Writes one frame: a 4-byte big-endian length, then `payload`.
fn write_frame(out: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "message over 4 GiB"))?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(payload)?;
    out.flush()
}

/// Reads one frame; `None` at a clean end of input.
fn read_frame(input: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut payload = vec![0; u32::from_be_bytes(len) as usize];
    input.read_exact(&mut payload)?;
    Ok(Some(payload))
}

/// How a process ended, for an error message: `"killed by signal
/// SIGSEGV"`, `"exit code 1"`.
pub fn describe_exit(status: ExitStatus) -> String {
    if let Some(signal) = status.signal() {
        return match signal_name(signal) {
            Some(name) => format!("killed by signal {name}"),
            None => format!("killed by signal {signal}"),
        };
    }
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => format!("ended ({status})"),
    }
}

/// The usual name of a Linux signal number.
fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        31 => "SIGSYS",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"hello").unwrap();
        write_frame(&mut buf, b"").unwrap();
        let mut input = &buf[..];
        assert_eq!(read_frame(&mut input).unwrap().unwrap(), b"hello");
        assert_eq!(read_frame(&mut input).unwrap().unwrap(), b"");
        assert!(read_frame(&mut input).unwrap().is_none());
        // A frame cut short is an error, not a clean end.
        let mut cut = &buf[..6];
        assert!(read_frame(&mut cut).is_err());
    }

    #[test]
    fn deaths_are_named() {
        assert_eq!(
            describe_exit(ExitStatus::from_raw(11)),
            "killed by signal SIGSEGV"
        );
        assert_eq!(
            describe_exit(ExitStatus::from_raw(6)),
            "killed by signal SIGABRT"
        );
        assert_eq!(describe_exit(ExitStatus::from_raw(1 << 8)), "exit code 1");
        assert_eq!(
            describe_exit(ExitStatus::from_raw(60)),
            "killed by signal 60"
        );
    }
}
