//! Helpers for the HTML pages: escaping (everything a client or worker
//! supplied goes through [`esc`]), the page frame with its style sheet,
//! readable times (ISO 8601 and "3s ago", by `jiff`), sizes and progress
//! bars.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::coordinator::convert::Clock;
use crate::core::{AttemptOutcome, PhaseProgress};

/// `s` escaped for HTML text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:1.5em 2em;color:#222}\
a{color:#0550ae;text-decoration:none}a:hover{text-decoration:underline}\
nav{margin-bottom:1em;color:#666}h1{font-size:1.5em;margin:.2em 0 .6em}h2{font-size:1.15em;margin-top:1.6em}\
table{border-collapse:collapse;font-size:.92em}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f3f3f3}td{white-space:nowrap}td.w{white-space:normal;max-width:42em}td.n{text-align:right;font-variant-numeric:tabular-nums}\
dl{display:grid;grid-template-columns:max-content auto;gap:3px 16px}dt{color:#666}dd{margin:0}\
.s{font-weight:600}.succeeded,.alive,.done{color:#1a7f37}.failed,.dead,.lost{color:#cf222e}\
.running{color:#0969da}.cancelled,.abandoned,.released,.queued,.pending{color:#6e7781}.output-lost{color:#9a6700}\
.errors{background:#ffebe9;border:1px solid #cf222e;padding:6px 12px;border-radius:4px}\
.errors li{font-family:monospace;white-space:pre-wrap}\
.bar{display:flex;width:320px;height:14px;background:#eaeef2;border-radius:3px;overflow:hidden}\
.bar.small{width:120px;height:10px}\
.bar .d{background:#2da44e}.bar .r{background:#54aeff}\
.tl{position:relative;height:18px;background:#f6f8fa;border:1px solid #ddd;min-width:480px}\
.tl span{position:absolute;top:2px;height:14px;border-radius:2px;min-width:2px;opacity:.9}\
.tl .succeeded{background:#2da44e}.tl .running{background:#54aeff}.tl .failed,.tl .lost{background:#cf222e}\
.tl .output-lost{background:#d4a72c}.tl .released,.tl .abandoned{background:#8c959f}\
.muted{color:#6e7781}code{font-size:.95em}";

/// A whole page: `title` (escaped here) and `body` (already HTML).
/// `refresh`: reload every 5 s (for things still changing).
pub fn page(title: &str, refresh: bool, body: &str) -> String {
    let refresh = if refresh {
        "<meta http-equiv=\"refresh\" content=\"5\">"
    } else {
        ""
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">{refresh}\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{} · mapreduce</title><style>{STYLE}</style></head><body>\n\
         <nav><a href=\"/\">mapreduce coordinator</a> · <a href=\"/api/jobs\">JSON</a> · \
         <a href=\"/metrics\">metrics</a></nav>\n{body}</body></html>\n",
        esc(title)
    )
}

/// Wall-clock rendering of the core's instants, relative to `now`.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    /// The coordinator's clock.
    pub clock: Clock,
    /// The moment the page shows.
    pub now: Instant,
}

impl Times {
    /// `t` in ISO 8601 (UTC, whole seconds).
    pub fn iso(&self, t: Instant) -> String {
        iso_ms(self.clock.epoch_ms(t))
    }

    /// `t` as a `<time>` element: ISO 8601 and how long ago.
    pub fn at(&self, t: Instant) -> String {
        let iso = self.iso(t);
        format!(
            "<time datetime=\"{iso}\">{iso}</time> <span class=\"muted\">({} ago)</span>",
            span(self.now.saturating_duration_since(t))
        )
    }
}

/// Milliseconds since the Unix epoch in ISO 8601 (UTC, whole seconds).
pub fn iso_ms(ms: u64) -> String {
    let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX);
    match jiff::Timestamp::from_second(secs) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => format!("{ms} ms after the epoch"),
    }
}

/// A duration for people: "850ms" below a second, "3.2s" below a
/// minute, else whole units ("1h 5m 3s").
pub fn span(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        return format!("{}ms", d.as_millis());
    }
    if d < Duration::from_secs(60) {
        return format!("{:.1}s", d.as_secs_f64());
    }
    let whole = jiff::SignedDuration::from_secs(i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    format!("{whole:#}")
}

/// A byte count for people ("12.3 MiB").
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// An attempt outcome's name (also its CSS class).
pub fn outcome(o: &AttemptOutcome) -> &'static str {
    match o {
        AttemptOutcome::Running => "running",
        AttemptOutcome::Succeeded => "succeeded",
        AttemptOutcome::OutputLost => "output-lost",
        AttemptOutcome::Failed { .. } => "failed",
        AttemptOutcome::Lost => "lost",
        AttemptOutcome::Released => "released",
        AttemptOutcome::Abandoned => "abandoned",
        AttemptOutcome::Superseded => "superseded",
    }
}

/// A progress bar (done, running, pending) with its numbers.
pub fn progress(p: PhaseProgress, small: bool) -> String {
    let pct = |n: u32| {
        if p.total == 0 {
            0.0
        } else {
            100.0 * f64::from(n) / f64::from(p.total)
        }
    };
    let mut h = String::new();
    let _ = write!(
        h,
        "<div class=\"bar{}\" title=\"{} done, {} running, {} total\">\
         <div class=\"d\" style=\"width:{:.2}%\"></div><div class=\"r\" style=\"width:{:.2}%\"></div></div>",
        if small { " small" } else { "" },
        p.done,
        p.running,
        p.total,
        pct(p.done),
        pct(p.running)
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_text_is_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn times_and_sizes_read_well() {
        assert_eq!(iso_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_ms(1_795_460_645_999), "2026-11-23T19:04:05Z");
        assert_eq!(span(Duration::from_millis(850)), "850ms");
        assert_eq!(span(Duration::from_millis(3_240)), "3.2s");
        assert_eq!(span(Duration::from_secs(3_903)), "1h 5m 3s");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
    }
}
