//! Reading a guide as the guide tests run it: the fenced blocks marked
//! `<!-- deploy-test: NAME -->` (docs/deploying.md) or `<!-- app-test:
//! NAME -->` (docs/writing-apps.md), the single-pass text
//! substitution that moves a block from three machines onto loopback, and
//! the few systemd unit directives the guide's units use (`Environment=`,
//! `EnvironmentFile=`, `ExecStart=` with `\` continuations).

use std::collections::BTreeMap;

/// The marked blocks of a guide, by name.
#[derive(Debug)]
pub struct Guide {
    blocks: BTreeMap<String, Block>,
}

/// One marked fenced block.
#[derive(Debug)]
struct Block {
    /// The fence's language (`sh`, `ini`).
    lang: String,
    /// The lines between the fences.
    code: String,
    /// Whether the test took it.
    taken: bool,
}

impl Guide {
    /// Parses `text`: every marker `<!-- KIND: NAME -->` must be followed
    /// (after blank lines) by a fenced block, and names must be unique.
    pub fn parse(text: &str, kind: &str) -> Guide {
        let marker = format!("<!-- {kind}: ");
        let mut blocks = BTreeMap::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let Some(rest) = line.trim().strip_prefix(marker.as_str()) else {
                continue;
            };
            let name = rest
                .strip_suffix("-->")
                .unwrap_or_else(|| panic!("unclosed marker {line:?}"))
                .trim()
                .to_string();
            let fence = lines
                .by_ref()
                .find(|l| !l.trim().is_empty())
                .unwrap_or_else(|| panic!("marker {name:?} ends the file"));
            let lang = fence
                .strip_prefix("```")
                .unwrap_or_else(|| panic!("marker {name:?} is followed by {fence:?}, not a fence"))
                .trim()
                .to_string();
            let mut code = String::new();
            let mut closed = false;
            for l in lines.by_ref() {
                if l.trim_end() == "```" {
                    closed = true;
                    break;
                }
                code.push_str(l);
                code.push('\n');
            }
            assert!(closed, "the block of marker {name:?} is not closed");
            let block = Block {
                lang,
                code,
                taken: false,
            };
            assert!(
                blocks.insert(name.clone(), block).is_none(),
                "two blocks are marked {name:?}"
            );
        }
        Guide { blocks }
    }

    /// The code of block `name`, whose fence must say `lang`; marks it
    /// taken.
    pub fn take(&mut self, name: &str, lang: &str) -> String {
        let block = self
            .blocks
            .get_mut(name)
            .unwrap_or_else(|| panic!("the guide has no block marked {name:?}"));
        assert_eq!(block.lang, lang, "the language of block {name:?}");
        block.taken = true;
        block.code.clone()
    }

    /// The marked blocks the test never took (each marked block must be
    /// run, or its marker is a false promise).
    pub fn untaken(&self) -> Vec<&str> {
        self.blocks
            .iter()
            .filter(|(_, b)| !b.taken)
            .map(|(n, _)| n.as_str())
            .collect()
    }
}

/// Replaces every occurrence of each `from` in `text` by its `to` in one
/// pass: at each position the first pair (in order) that matches wins, and
/// replaced text is never looked at again. So list longer patterns
/// (`host:port`) before their prefixes (`host`).
pub fn substitute(text: &str, pairs: &[(String, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while let Some(c) = rest.chars().next() {
        for (from, to) in pairs {
            if !from.is_empty() {
                if let Some(after) = rest.strip_prefix(from.as_str()) {
                    out.push_str(to);
                    rest = after;
                    continue 'scan;
                }
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// What the test runs of a systemd service unit.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Unit {
    /// `Environment=NAME=VALUE`, in order.
    pub env: Vec<(String, String)>,
    /// `EnvironmentFile=PATH`, in order.
    pub env_files: Vec<String>,
    /// `ExecStart=`, continuation lines joined.
    pub exec_start: String,
    /// `ExecReload=`, if any.
    pub exec_reload: Option<String>,
}

/// `[Service]` directives that change nothing the test could run: who
/// runs it (the test's user), restart policy, limits.
const IGNORED: [&str; 3] = ["User", "Restart", "LimitNOFILE"];

impl Unit {
    /// Parses a unit file; a `[Service]` directive the test does not know
    /// fails, so the test never silently skips what a unit relies on.
    pub fn parse(text: &str) -> Unit {
        let mut unit = Unit::default();
        let mut section = String::new();
        let mut logical = Vec::new();
        let mut pending = String::new();
        for line in text.lines() {
            let line = line.trim();
            if let Some(part) = line.strip_suffix('\\') {
                pending.push_str(part);
                pending.push(' ');
                continue;
            }
            pending.push_str(line);
            logical.push(std::mem::take(&mut pending));
        }
        for line in logical {
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if line.starts_with('[') {
                section = line;
                continue;
            }
            if section != "[Service]" {
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("not a directive: {line:?}"));
            let value = value.trim().to_string();
            match key.trim() {
                "Environment" => unit.env.push(env_assignment(value.trim_matches('"'))),
                "EnvironmentFile" => unit.env_files.push(value),
                "ExecStart" => {
                    assert!(unit.exec_start.is_empty(), "two ExecStart= lines");
                    unit.exec_start = value;
                }
                "ExecReload" => unit.exec_reload = Some(value),
                k if IGNORED.contains(&k) => {}
                k => panic!("the deploy-guide test does not know the [Service] directive {k}="),
            }
        }
        assert!(!unit.exec_start.is_empty(), "no ExecStart= in the unit");
        unit
    }
}

/// `NAME=VALUE` as in an `Environment=` directive or an environment file.
pub fn env_assignment(text: &str) -> (String, String) {
    let (name, value) = text
        .split_once('=')
        .unwrap_or_else(|| panic!("not NAME=VALUE: {text:?}"));
    (name.trim().to_string(), value.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn substitution_is_one_pass_and_the_first_pattern_wins() {
        let p = pairs(&[
            ("h.example:1", "localhost:9"),
            ("h.example", "localhost"),
            ("/x", "/t/x"),
        ]);
        assert_eq!(
            substitute("https://h.example:1 DNS:h.example /x/y", &p),
            "https://localhost:9 DNS:localhost /t/x/y"
        );
        // The replacement `/t/x` holds `/x`, which is not replaced again.
        assert_eq!(substitute("/x", &p), "/t/x");
    }

    #[test]
    fn units_join_continuations_and_refuse_unknown_directives() {
        let unit = Unit::parse(
            "[Unit]\nDescription=d\n[Service]\nUser=u\nEnvironment=A=b c\n\
             EnvironmentFile=/e\nExecStart=/bin/mr x \\\n    --y z\nExecReload=/bin/kill -HUP $MAINPID\n\
             [Install]\nWantedBy=m\n",
        );
        assert_eq!(unit.exec_reload.as_deref(), Some("/bin/kill -HUP $MAINPID"));
        assert_eq!(unit.env, vec![("A".to_string(), "b c".to_string())]);
        assert_eq!(unit.env_files, vec!["/e".to_string()]);
        assert_eq!(unit.exec_start, "/bin/mr x  --y z");
        let unknown = std::panic::catch_unwind(|| {
            Unit::parse("[Service]\nWorkingDirectory=/w\nExecStart=/bin/true\n")
        });
        assert!(unknown.is_err());
    }

    #[test]
    fn blocks_are_found_by_marker_and_must_all_be_taken() {
        let mut g = Guide::parse(
            "text\n<!-- deploy-test: one -->\n```sh\necho 1\n```\n\n\
             <!-- deploy-test: two -->\n\n```ini\n[Service]\n```\n```sh\nnot marked\n```\n\
             <!-- other: three -->\n```sh\nanother kind\n```\n",
            "deploy-test",
        );
        assert_eq!(g.take("one", "sh"), "echo 1\n");
        assert_eq!(g.untaken(), vec!["two"]);
        assert_eq!(g.take("two", "ini"), "[Service]\n");
        assert!(g.untaken().is_empty());
    }
}
