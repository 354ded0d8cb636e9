//! `chaos`: a test app for fault-tolerance tests. It counts
//! whitespace-separated words like a plain word count, and misbehaves on
//! demand through its arguments (each `SUBSTR` matches input paths):
//!
//! - `--fail-on SUBSTR`: map returns an error;
//! - `--panic-on SUBSTR`: map panics;
//! - `--abort-on SUBSTR`: map aborts the whole process;
//! - `--hang-on SUBSTR`: map sleeps forever;
//! - `--sleep-ms N`: every map sleeps N ms first;
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
        if matches(args, "--fail-on", input.path)? {
            return Err(AppError::msg(format!(
                "chaos: failing on {} as asked",
                input.path
            )));
        }
        if matches(args, "--panic-on", input.path)? {
            panic!("chaos: panicking on {} as asked", input.path);
        }
        if matches(args, "--abort-on", input.path)? {
            std::process::abort();
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

export_app!(Chaos);
