//! Deterministic benchmark inputs (xorshift, fixed seeds).

use std::io::{BufWriter, Write};
use std::path::Path;

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const SYLLABLES: [&str; 16] = [
    "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ber", "dan", "gor", "hel", "pri", "st", "qu",
    "x",
];
const NON_ASCII: [&str; 6] = ["straße", "Ωμέγα", "déjà", "naïve", "Σίσυφος", "über"];

/// The word of rank `r`: syllables spelling `r` in base 16, capitalised now
/// and then; every 50th rank a non-ASCII word with a suffix.
fn word(r: u64, out: &mut String) {
    if r % 50 == 7 {
        out.push_str(NON_ASCII[(r / 50) as usize % NON_ASCII.len()]);
    }
    let mut x = r;
    loop {
        out.push_str(SYLLABLES[(x % 16) as usize]);
        x /= 16;
        if x == 0 {
            break;
        }
    }
}

/// A word rank with a Zipf-like distribution, P(rank = r) ~ r^-1.2 for r
/// up to a million (a Pareto draw, redrawn when too large): about 10^5
/// distinct words per 16 MiB, in line with Heaps' law for English.
fn zipf_rank(rng: &mut Rng) -> u64 {
    loop {
        // P(R >= r) = r^-0.2 for a continuous R >= 1.
        let r = (1.0 - rng.unit()).powf(-5.0);
        if r < 1_000_000.0 {
            return r as u64 - 1;
        }
    }
}

/// `files` text files of `kib` KiB in total under `dir`: words drawn with
/// [`zipf_rank`], some capitalised, separated by spaces and punctuation, in
/// lines of ~70 bytes.
pub fn text(dir: &Path, kib: u64, files: u64) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let per_file = (kib << 10) / files.max(1);
    let seps = [" ", " ", " ", ", ", ". ", "; ", " -- "];
    for f in 0..files {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (f + 1));
        let mut w = BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(dir.join(format!("text-{f:03}.txt")))?,
        );
        let mut written = 0u64;
        let mut line = String::new();
        while written < per_file {
            line.clear();
            while line.len() < 70 {
                let rank = zipf_rank(&mut rng);
                let start = line.len();
                word(rank, &mut line);
                if rng.next().is_multiple_of(10) {
                    let first = line[start..].chars().next().unwrap();
                    let upper: String = first.to_uppercase().collect();
                    line.replace_range(start..start + first.len_utf8(), &upper);
                }
                line.push_str(seps[(rng.next() % seps.len() as u64) as usize]);
            }
            line.push('\n');
            w.write_all(line.as_bytes())?;
            written += line.len() as u64;
        }
        w.flush()?;
    }
    Ok(())
}

/// `files` files of 100-byte records totalling `mib` MiB under `dir`: a
/// 10-byte printable key, 88 printable bytes and `\r\n`, like gensort -a.
pub fn records(dir: &Path, mib: u64, files: u64) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let total = (mib << 20) / 100;
    let per_file = total / files.max(1);
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for f in 0..files {
        let mut w = BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(dir.join(format!("records-{f:03}")))?,
        );
        let mut rec = [0u8; 100];
        for _ in 0..per_file {
            for chunk in rec[..98].chunks_mut(8) {
                let mut x = rng.next();
                for b in chunk {
                    *b = b' ' + (x % 95) as u8;
                    x /= 95;
                }
            }
            rec[98] = b'\r';
            rec[99] = b'\n';
            w.write_all(&rec)?;
        }
        w.flush()?;
    }
    Ok(())
}
