//! [`Args`]: the arguments a job was submitted with (`mr submit ... -- ARGS`),
//! handed unchanged to every map and reduce call.

use crate::frame::Frames;
use crate::AppError;

/// A job's arguments: one length-delimited frame per argument.
#[derive(Debug, Clone, Copy)]
pub struct Args<'a> {
    raw: &'a [u8],
}

impl<'a> Args<'a> {
    /// Arguments encoded as frames (see [`crate::frame`]).
    pub fn new(raw: &'a [u8]) -> Self {
        Args { raw }
    }

    /// The encoded bytes, as submitted.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Each argument as bytes.
    pub fn to_bytes(&self) -> Result<Vec<&'a [u8]>, AppError> {
        Frames::new(self.raw)
            .map(|f| f.map_err(|e| AppError::msg(format!("malformed job arguments: {e}"))))
            .collect()
    }

    /// Each argument as UTF-8 text.
    pub fn to_strings(&self) -> Result<Vec<&'a str>, AppError> {
        self.to_bytes()?
            .into_iter()
            .map(|b| {
                std::str::from_utf8(b).map_err(|_| AppError::msg("job argument is not valid UTF-8"))
            })
            .collect()
    }

    /// The value of an option given as `NAME VALUE` or `NAME=VALUE`, for any
    /// of `names` (for example `["-t", "--term"]`). `Ok(None)` when absent; an
    /// error when the option is last with no value.
    pub fn option(&self, names: &[&str]) -> Result<Option<&'a str>, AppError> {
        let args = self.to_strings()?;
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if names.contains(arg) {
                return match it.next() {
                    Some(v) => Ok(Some(v)),
                    None => Err(AppError::msg(format!("option {arg} needs a value"))),
                };
            }
            if let Some((name, value)) = arg.split_once('=') {
                if names.contains(&name) {
                    return Ok(Some(value));
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::encode_frames;

    #[test]
    fn options_in_both_forms() {
        let raw = encode_frames(["-x", "--term", "foo bar"]).unwrap();
        assert_eq!(
            Args::new(&raw).option(&["-t", "--term"]),
            Ok(Some("foo bar"))
        );
        let raw = encode_frames(["--term=a=b"]).unwrap();
        assert_eq!(Args::new(&raw).option(&["-t", "--term"]), Ok(Some("a=b")));
        assert_eq!(Args::new(&[]).option(&["-t"]), Ok(None));
        let raw = encode_frames(["-t"]).unwrap();
        assert_eq!(
            Args::new(&raw).option(&["-t"]),
            Err(AppError::msg("option -t needs a value"))
        );
    }

    #[test]
    fn malformed_arguments_are_errors() {
        assert!(Args::new(&[0, 0, 0, 9, b'a']).to_strings().is_err());
        let raw = encode_frames([&[0xff_u8][..]]).unwrap();
        assert!(Args::new(&raw).to_strings().is_err());
    }
}
