//! The INI format of AWS's shared files (`~/.aws/credentials`,
//! `~/.aws/config`): `[section]` headers, `key = value` lines, full-line
//! comments starting with `#` or `;`, blank lines. An indented line after a
//! key with an empty value is a nested setting (`s3 =` then
//! `  addressing_style = path`) and is kept as `parent.key`. Section names
//! and keys are trimmed; later duplicates win, as in AWS's tools.

use std::collections::HashMap;

/// The settings of each section, by section name.
pub type Sections = HashMap<String, HashMap<String, String>>;

/// A line that is not INI.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IniError {
    /// Neither a header, a setting, a comment nor blank.
    #[error("{file} line {line}: expected `[section]` or `key = value`")]
    BadLine {
        /// The file.
        file: String,
        /// The line number, from 1.
        line: usize,
    },
    /// A setting before any `[section]`.
    #[error("{file} line {line}: a setting outside any [section]")]
    NoSection {
        /// The file.
        file: String,
        /// The line number, from 1.
        line: usize,
    },
}

/// Parses `text` (the contents of `file`, named in errors).
pub fn parse(file: &str, text: &str) -> Result<Sections, IniError> {
    let mut sections = Sections::new();
    let mut current: Option<String> = None;
    // The key whose value is empty, for nested settings below it.
    let mut parent: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let bad = || IniError::BadLine {
            file: file.to_string(),
            line: i + 1,
        };
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[') {
            let name = header.strip_suffix(']').ok_or_else(bad)?.trim();
            // `[profile  name]` names `profile name`.
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            sections.entry(name.clone()).or_default();
            current = Some(name);
            parent = None;
            continue;
        }
        let (key, value) = line.split_once('=').ok_or_else(bad)?;
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() {
            return Err(bad());
        }
        let section = current.as_ref().ok_or(IniError::NoSection {
            file: file.to_string(),
            line: i + 1,
        })?;
        let nested = raw.starts_with([' ', '\t']);
        let key = match (&parent, nested) {
            (Some(p), true) => format!("{p}.{key}"),
            _ => {
                parent = value.is_empty().then(|| key.to_string());
                key.to_string()
            }
        };
        sections
            .entry(section.clone())
            .or_default()
            .insert(key, value.to_string());
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_keys_comments_and_nesting() {
        let text = "# comment\n; another\n\n[default]\naws_access_key_id = AKIA\n\
                    aws_secret_access_key=secret = with equals\n\
                    [profile  dev ]\nregion = eu-west-1\ns3 =\n  addressing_style = path\n\
                    endpoint_url = http://x\n[default]\nregion = us-east-1\n";
        let s = parse("f", text).unwrap();
        assert_eq!(s["default"]["aws_access_key_id"], "AKIA");
        assert_eq!(
            s["default"]["aws_secret_access_key"],
            "secret = with equals"
        );
        assert_eq!(s["default"]["region"], "us-east-1", "a section reopened");
        assert_eq!(s["profile dev"]["region"], "eu-west-1");
        assert_eq!(s["profile dev"]["s3.addressing_style"], "path");
        assert_eq!(s["profile dev"]["endpoint_url"], "http://x", "nesting ends");
        assert!(!s["profile dev"].contains_key("addressing_style"));
    }

    #[test]
    fn bad_lines_are_named_by_file_and_line() {
        assert_eq!(
            parse("creds", "[a]\nx = 1\njunk\n"),
            Err(IniError::BadLine {
                file: "creds".into(),
                line: 3
            })
        );
        assert_eq!(
            parse("creds", "x = 1\n"),
            Err(IniError::NoSection {
                file: "creds".into(),
                line: 1
            })
        );
        assert!(parse("creds", "[open\n").is_err());
        assert!(parse("creds", "[a]\n= v\n").is_err());
        assert_eq!(parse("creds", "").unwrap(), Sections::new());
    }
}
