//! The client configuration file and how it combines with flags and the
//! environment: flags override environment variables, which override the
//! file (`$MR_CONFIG`, else `$XDG_CONFIG_HOME/mr/config.toml`, else
//! `~/.config/mr/config.toml`), which overrides the defaults.
//!
//! ```toml
//! coordinator = "https://coord.example:10162"
//! token_file = "client.token"     # relative paths: beside this file
//! tls_ca = "ca.pem"
//! tls_cert = "client.pem"
//! tls_key = "client.key"
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::client::DEFAULT_COORDINATOR;

/// What the configuration file may set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The coordinator's URL.
    pub coordinator: Option<String>,
    /// File holding the client token.
    pub token_file: Option<PathBuf>,
    /// CA certificate (PEM).
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM).
    pub tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub tls_key: Option<PathBuf>,
}

/// One source's settings (flags, environment or file), all optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// The coordinator's URL.
    pub coordinator: Option<String>,
    /// File holding the client token.
    pub token_file: Option<PathBuf>,
    /// Whether this source gives the token itself ($MR_CLIENT_TOKEN), which
    /// hides token files of lower sources.
    pub token_value: bool,
    /// CA certificate.
    pub tls_ca: Option<PathBuf>,
    /// Client certificate.
    pub tls_cert: Option<PathBuf>,
    /// Its key.
    pub tls_key: Option<PathBuf>,
}

/// The settings a client command uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The coordinator's URL.
    pub coordinator: String,
    /// The token file (`None`: $MR_CLIENT_TOKEN or no token).
    pub token_file: Option<PathBuf>,
    /// CA certificate.
    pub tls_ca: Option<PathBuf>,
    /// Client certificate and key (both or neither).
    pub tls_cert: Option<PathBuf>,
    /// Its key.
    pub tls_key: Option<PathBuf>,
}

/// Combines `sources`, highest precedence first.
pub fn resolve(sources: &[Settings]) -> Resolved {
    let first = |f: &dyn Fn(&Settings) -> Option<PathBuf>| sources.iter().find_map(f);
    // A token given as a value hides the token files of lower sources.
    let token_file = sources
        .iter()
        .take_while(|s| s.token_file.is_some() || !s.token_value)
        .find_map(|s| s.token_file.clone());
    // A certificate and its key come from one source together.
    let identity = sources
        .iter()
        .find(|s| s.tls_cert.is_some() || s.tls_key.is_some())
        .map(|s| (s.tls_cert.clone(), s.tls_key.clone()))
        .unwrap_or_default();
    Resolved {
        coordinator: sources
            .iter()
            .find_map(|s| s.coordinator.clone())
            .unwrap_or_else(|| DEFAULT_COORDINATOR.to_string()),
        token_file,
        tls_ca: first(&|s| s.tls_ca.clone()),
        tls_cert: identity.0,
        tls_key: identity.1,
    }
}

/// The settings of the environment: `$MR_COORDINATOR`, `$MR_CLIENT_TOKEN`,
/// `$MR_TLS_CA`, `$MR_TLS_CERT`, `$MR_TLS_KEY`.
pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Settings {
    let nonempty = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    Settings {
        coordinator: nonempty("MR_COORDINATOR"),
        token_file: None,
        token_value: nonempty("MR_CLIENT_TOKEN").is_some(),
        tls_ca: nonempty("MR_TLS_CA").map(PathBuf::from),
        tls_cert: nonempty("MR_TLS_CERT").map(PathBuf::from),
        tls_key: nonempty("MR_TLS_KEY").map(PathBuf::from),
    }
}

/// Where the configuration file is, and whether it must exist (named by
/// `$MR_CONFIG`) or may be missing (the default place).
pub fn config_path(var: impl Fn(&str) -> Option<String>) -> Option<(PathBuf, bool)> {
    if let Some(p) = var("MR_CONFIG").filter(|p| !p.is_empty()) {
        return Some((PathBuf::from(p), true));
    }
    let base = var("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| Path::new(&h).join(".config")))?;
    Some((base.join("mr").join("config.toml"), false))
}

/// Reads the configuration file's settings (none if it is missing from
/// the default place); relative paths in it are taken from its folder.
pub fn from_file(path: &Path, required: bool) -> anyhow::Result<Settings> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok(Settings::default())
        }
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read {}", path.display()));
        }
    };
    let c: ClientConfig = toml::from_str(&text)
        .with_context(|| format!("bad configuration file {}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let near = |p: Option<PathBuf>| p.map(|p| dir.join(p));
    Ok(Settings {
        coordinator: c.coordinator,
        token_file: near(c.token_file),
        token_value: false,
        tls_ca: near(c.tls_ca),
        tls_cert: near(c.tls_cert),
        tls_key: near(c.tls_key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<PathBuf> {
        Some(PathBuf::from(s))
    }

    #[test]
    fn flags_override_the_environment_which_overrides_the_file() {
        let file = Settings {
            coordinator: Some("https://file:1".into()),
            token_file: p("/file/token"),
            tls_ca: p("/file/ca"),
            tls_cert: p("/file/cert"),
            tls_key: p("/file/key"),
            ..Settings::default()
        };
        let env = Settings {
            coordinator: Some("https://env:1".into()),
            tls_ca: p("/env/ca"),
            ..Settings::default()
        };
        let flags = Settings {
            tls_cert: p("/flag/cert"),
            tls_key: p("/flag/key"),
            ..Settings::default()
        };
        let r = resolve(&[flags.clone(), env.clone(), file.clone()]);
        assert_eq!(r.coordinator, "https://env:1");
        assert_eq!(r.tls_ca, p("/env/ca"));
        assert_eq!((r.tls_cert, r.tls_key), (p("/flag/cert"), p("/flag/key")));
        assert_eq!(r.token_file, p("/file/token"));

        let only_file = resolve(&[Settings::default(), Settings::default(), file.clone()]);
        assert_eq!(only_file.coordinator, "https://file:1");
        assert_eq!(only_file.tls_cert, p("/file/cert"));

        let flag_url = Settings {
            coordinator: Some("http://flag:1".into()),
            ..Settings::default()
        };
        assert_eq!(
            resolve(&[flag_url, env, file.clone()]).coordinator,
            "http://flag:1"
        );
        assert_eq!(resolve(&[]).coordinator, DEFAULT_COORDINATOR);
    }

    #[test]
    fn a_token_in_the_environment_hides_the_files_token_file_but_not_a_flags() {
        let file = Settings {
            token_file: p("/file/token"),
            ..Settings::default()
        };
        let env = from_env(|v| (v == "MR_CLIENT_TOKEN").then(|| "secret".to_string()));
        assert!(env.token_value);
        assert_eq!(
            resolve(&[Settings::default(), env.clone(), file.clone()]).token_file,
            None
        );
        let flag = Settings {
            token_file: p("/flag/token"),
            ..Settings::default()
        };
        assert_eq!(resolve(&[flag, env, file]).token_file, p("/flag/token"));
    }

    #[test]
    fn the_file_is_found_and_its_relative_paths_are_beside_it() {
        let var = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            config_path(var(&[("MR_CONFIG", "/etc/mr.toml"), ("HOME", "/h")])),
            Some((PathBuf::from("/etc/mr.toml"), true))
        );
        assert_eq!(
            config_path(var(&[("HOME", "/h")])),
            Some((PathBuf::from("/h/.config/mr/config.toml"), false))
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "coordinator = \"https://c:1\"\ntls_ca = \"ca.pem\"\n",
        )
        .unwrap();
        let s = from_file(&path, true).unwrap();
        assert_eq!(s.coordinator.as_deref(), Some("https://c:1"));
        assert_eq!(s.tls_ca, Some(dir.path().join("ca.pem")));
        std::fs::write(&path, "coordinatr = \"x\"\n").unwrap();
        assert!(
            from_file(&path, true).is_err(),
            "a misspelt key is an error"
        );
        let missing = dir.path().join("missing.toml");
        assert_eq!(from_file(&missing, false).unwrap(), Settings::default());
        assert!(from_file(&missing, true).is_err());
    }
}
