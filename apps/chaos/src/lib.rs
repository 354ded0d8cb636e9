//! `chaos`: a test app for fault-tolerance tests. It counts
//! whitespace-separated words like a plain word count, and misbehaves on
//! demand through its arguments (each `SUBSTR` matches input paths):
//!
//! - `--fail-on SUBSTR`: map returns an error;
//! - `--panic-on SUBSTR`: map panics;
//! - `--abort-on SUBSTR`: map aborts the whole process;
//! - `--segv-on SUBSTR`: map writes to an unmapped address (SIGSEGV);
//! - `--exit-on SUBSTR`: map calls `exit(1)`;
//! - `--mit-crash MAX_MS`: the MIT lab's crash workload: at the start of
//!   every map and reduce call, exit(1) with probability 0.33, else sleep a
//!   random 0..MAX_MS ms with probability 0.33;
//! - `--hang-on SUBSTR`: map sleeps forever;
//! - `--sleep-ms N`: every map sleeps N ms first;
//! - `--slow-env-ms N`: every map sleeps N ms more where the environment
//!   has `MR_CHAOS_SLOW` set (one slowed worker: straggler tests);
//! - `--reduce-sleep-ms N`: every reduce call (one per key) sleeps N ms first;
//! - `--reduce-fail-on KEY` / `--reduce-panic-on KEY`: reduce of that key
//!   fails / panics.
//!
//! It is built for tests only (not a default workspace member).

use std::io::Write;
use std::time::Duration;

use plugin_api::{
    decode_u64, encode_u64, export_app, sum_u64, App, AppError, Args, Emit, MapInput, Records,
    Reducer, Values,
};

/// The chaos app.
#[derive(Debug, Default)]
pub struct Chaos;

fn matches(args: &Args<'_>, option: &str, subject: &str) -> Result<bool, AppError> {
    Ok(args.option(&[option])?.is_some_and(|s| subject.contains(s)))
}

impl App for Chaos {
    const NAME: &'static str = "chaos";
    const DESCRIPTION: &'static str = "Test app: word count that misbehaves on demand";
    const COMBINE: Option<Reducer<Self>> = Some(Self::sum);

    fn map(&self, input: &MapInput<'_>, out: &mut dyn Emit) -> Result<(), AppError> {
        let args = &input.args;
        if let Some(ms) = args.option(&["--sleep-ms"])? {
            let ms: u64 = ms
                .parse()
                .map_err(|_| AppError::msg(format!("bad --sleep-ms {ms:?}")))?;
            std::thread::sleep(Duration::from_millis(ms));
        }
        if let Some(ms) = args.option(&["--slow-env-ms"])? {
            let ms: u64 = ms
                .parse()
                .map_err(|_| AppError::msg(format!("bad --slow-env-ms {ms:?}")))?;
            if std::env::var_os("MR_CHAOS_SLOW").is_some() {
                std::thread::sleep(Duration::from_millis(ms));
            }
        }
        if matches(args, "--fail-on", input.path)? {
            return Err(AppError::msg(format!(
                "chaos: failing on {} as asked",
                input.path
            )));
        }
        if matches(args, "--panic-on", input.path)? {
            panic!("chaos: panicking on {} as asked", input.path);
        }
        maybe_crash(args)?;
        if matches(args, "--abort-on", input.path)? {
            std::process::abort();
        }
        if matches(args, "--segv-on", input.path)? {
            segfault();
        }
        if matches(args, "--exit-on", input.path)? {
            std::process::exit(1);
        }
        if matches(args, "--hang-on", input.path)? {
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        let text = std::str::from_utf8(input.contents)?;
        for word in text.split_whitespace() {
            out.emit(word.as_bytes(), &1u64.to_be_bytes());
        }
        Ok(())
    }

    fn reduce(
        &self,
        key: &[u8],
        values: &mut dyn Values,
        args: &Args<'_>,
    ) -> Result<Vec<u8>, AppError> {
        if let Some(ms) = args.option(&["--reduce-sleep-ms"])? {
            let ms: u64 = ms
                .parse()
                .map_err(|_| AppError::msg(format!("bad --reduce-sleep-ms {ms:?}")))?;
            std::thread::sleep(Duration::from_millis(ms));
        }
        maybe_crash(args)?;
        let key_text = String::from_utf8_lossy(key);
        if args.option(&["--reduce-fail-on"])? == Some(&*key_text) {
            return Err(AppError::msg(format!(
                "chaos: failing on key {key_text} as asked"
            )));
        }
        if args.option(&["--reduce-panic-on"])? == Some(&*key_text) {
            panic!("chaos: panicking on key {key_text} as asked");
        }
        self.sum(key, values, args)
    }

    fn format(&self, records: &mut dyn Records, out: &mut dyn Write) -> Result<(), AppError> {
        while let Some((k, v)) = records.next_record() {
            writeln!(out, "{}\t{}", String::from_utf8_lossy(k), decode_u64(v)?)?;
        }
        Ok(())
    }
}

impl Chaos {
    /// The combiner, and the reduce once the misbehaviours are past.
    fn sum(&self, _key: &[u8], values: &mut dyn Values, _: &Args<'_>) -> Result<Vec<u8>, AppError> {
        Ok(encode_u64(sum_u64(values)?).to_vec())
    }
}

/// Writes to an address that is never mapped: the process dies of SIGSEGV.
fn segfault() -> ! {
    let unmapped = 0x10 as *mut u8;
    // SAFETY: not safe at all, on purpose: the write faults and the kernel
    // kills the process before anything else happens.
    unsafe { unmapped.write_volatile(1) };
    unreachable!("a write to address 0x10 returned")
}

/// A random number in `0..n` (fresh keys per process and per call).
fn random_below(n: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() % n.max(1)
}

/// `--mit-crash MAX_MS`: exit with probability 0.33, else sleep up to
/// `MAX_MS` with probability 0.33 (the MIT 6.5840 lab's `crash` app).
fn maybe_crash(args: &Args<'_>) -> Result<(), AppError> {
    let Some(max) = args.option(&["--mit-crash"])? else {
        return Ok(());
    };
    let max: u64 = max
        .parse()
        .map_err(|_| AppError::msg(format!("bad --mit-crash {max:?}")))?;
    let roll = random_below(1000);
    if roll < 330 {
        std::process::exit(1);
    }
    if roll < 660 {
        std::thread::sleep(Duration::from_millis(random_below(max + 1)));
    }
    Ok(())
}

export_app!(Chaos);
