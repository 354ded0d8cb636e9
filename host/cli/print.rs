//! Printing for the client subcommands: text that came from the network
//! (worker addresses, file names, errors, app metadata) has its control
//! characters escaped, so it cannot drive the terminal (an ANSI escape in
//! a worker address); and standard output that the reader closed ends the
//! process quietly (`mr poll | head`) instead of panicking.

use std::borrow::Cow;
use std::fmt;
use std::io::Write;

/// `text` with every control character (ESC, CR, NUL, newlines...) shown
/// as a Rust escape (`\u{1b}`, `\r`, `\n`).
pub fn shown(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Writes one line to standard output; exits with success at once if the
/// reader has gone (a closed pipe), as `cat` and `head` do.
pub fn line(args: fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let written = out
        .write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("mr: cannot write to standard output: {e}");
            std::process::exit(1);
        }
    }
}

/// `println!` through [`line`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::print::line(format_args!($($arg)*))
    };
}
pub(crate) use out;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert!(matches!(
            shown("plain/path é"),
            Cow::Borrowed("plain/path é")
        ));
        assert_eq!(shown("a\u{1b}[31mb\r\n\u{7}"), "a\\u{1b}[31mb\\r\\n\\u{7}");
        assert_eq!(shown("\u{9b}2J"), "\\u{9b}2J", "C1 controls too");
    }
}
