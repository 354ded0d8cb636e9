//! AWS named profiles, read as AWS's own tools read them: the profile is
//! `AWS_PROFILE` (else `default`); its settings come from the shared
//! credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else
//! `~/.aws/credentials`, sections `[name]`) and the config file
//! (`AWS_CONFIG_FILE`, else `~/.aws/config`, sections `[profile name]` or
//! `[default]`), the credentials file winning where both set a key.
//!
//! Environment variables win over the profile: credentials come whole from
//! one place (`AWS_ACCESS_KEY_ID` in the environment means the profile's
//! keys are not used), `AWS_REGION`/`AWS_DEFAULT_REGION` over `region`,
//! `AWS_ENDPOINT_URL` over `endpoint_url`. A profile named by `AWS_PROFILE`
//! that neither file has is an error naming it; a missing `default` is not.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use object_store::aws::AmazonS3ConfigKey;

use super::ini::{self, IniError, Sections};

/// Why the named profile cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    /// `AWS_PROFILE` names a profile that neither file has.
    #[error(
        "AWS profile {profile:?} (AWS_PROFILE) is in neither {} nor {}",
        credentials.display(),
        config.display()
    )]
    Missing {
        /// The profile.
        profile: String,
        /// The shared credentials file looked in.
        credentials: PathBuf,
        /// The config file looked in.
        config: PathBuf,
    },
    /// The profile has one of the access key pair but not the other.
    #[error("AWS profile {profile:?} sets {has} but not {lacks}")]
    HalfKey {
        /// The profile.
        profile: String,
        /// The key it sets.
        has: &'static str,
        /// The key it lacks.
        lacks: &'static str,
    },
    /// A file that exists but cannot be read.
    #[error("cannot read the AWS file {}: {reason}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the system said.
        reason: String,
    },
    /// A file that is not in the INI format.
    #[error("AWS profile {profile:?}: {source}")]
    Malformed {
        /// The profile being read.
        profile: String,
        /// Where and what.
        source: IniError,
    },
}

/// The settings of one profile that object storage uses.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The profile's name.
    pub name: String,
    /// `aws_access_key_id`.
    pub access_key_id: Option<String>,
    /// `aws_secret_access_key`.
    pub secret_access_key: Option<String>,
    /// `aws_session_token`.
    pub session_token: Option<String>,
    /// `region`.
    pub region: Option<String>,
    /// `endpoint_url`.
    pub endpoint_url: Option<String>,
}

/// A variable of the environment, `None` when unset or empty.
fn var(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.is_empty())
}

/// Reads the profile the environment names (`env` looks variables up),
/// with `home` the user's home folder (for the default file locations).
pub fn load(
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> Result<Profile, ProfileError> {
    let explicit = var(env, "AWS_PROFILE");
    let name = explicit.clone().unwrap_or_else(|| "default".into());
    let file = |var_name: &str, default: &str| {
        var(env, var_name).map(PathBuf::from).unwrap_or_else(|| {
            home.unwrap_or_else(|| Path::new(""))
                .join(".aws")
                .join(default)
        })
    };
    let credentials_path = file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    let config_path = file("AWS_CONFIG_FILE", "config");
    let malformed = |source| ProfileError::Malformed {
        profile: name.clone(),
        source,
    };
    let credentials = read(&credentials_path)?.map_err(malformed)?;
    let config = read(&config_path)?.map_err(malformed)?;
    let config_section = if name == "default" {
        config
            .get("default")
            .or_else(|| config.get("profile default"))
    } else {
        config.get(&format!("profile {name}"))
    };
    let from_credentials = credentials.get(&name);
    if explicit.is_some() && from_credentials.is_none() && config_section.is_none() {
        return Err(ProfileError::Missing {
            profile: name,
            credentials: credentials_path,
            config: config_path,
        });
    }
    let empty = HashMap::new();
    let (creds, conf) = (
        from_credentials.unwrap_or(&empty),
        config_section.unwrap_or(&empty),
    );
    let get = |key: &str| creds.get(key).or_else(|| conf.get(key)).cloned();
    let profile = Profile {
        access_key_id: get("aws_access_key_id"),
        secret_access_key: get("aws_secret_access_key"),
        session_token: get("aws_session_token"),
        region: get("region"),
        endpoint_url: get("endpoint_url"),
        name,
    };
    match (&profile.access_key_id, &profile.secret_access_key) {
        (Some(_), None) => Err(ProfileError::HalfKey {
            profile: profile.name,
            has: "aws_access_key_id",
            lacks: "aws_secret_access_key",
        }),
        (None, Some(_)) => Err(ProfileError::HalfKey {
            profile: profile.name,
            has: "aws_secret_access_key",
            lacks: "aws_access_key_id",
        }),
        _ => Ok(profile),
    }
}

/// A file's sections; a missing file has none.
fn read(path: &Path) -> Result<Result<Sections, IniError>, ProfileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(ini::parse(&path.display().to_string(), &text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ok(Sections::new())),
        Err(e) => Err(ProfileError::Unreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

/// The client settings `profile` adds to what the environment sets, each
/// only where the environment sets nothing.
pub fn settings(
    profile: &Profile,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<(AmazonS3ConfigKey, String)> {
    let mut out = Vec::new();
    let env_has = |names: &[&str]| names.iter().any(|n| var(env, n).is_some());
    // Credentials come whole from one source.
    if !env_has(&["AWS_ACCESS_KEY_ID"]) {
        if let (Some(id), Some(secret)) = (&profile.access_key_id, &profile.secret_access_key) {
            out.push((AmazonS3ConfigKey::AccessKeyId, id.clone()));
            out.push((AmazonS3ConfigKey::SecretAccessKey, secret.clone()));
            if let Some(token) = &profile.session_token {
                out.push((AmazonS3ConfigKey::Token, token.clone()));
            }
        }
    }
    if !env_has(&["AWS_REGION", "AWS_DEFAULT_REGION"]) {
        if let Some(region) = &profile.region {
            out.push((AmazonS3ConfigKey::Region, region.clone()));
        }
    }
    if !env_has(&["AWS_ENDPOINT_URL", "AWS_ENDPOINT"]) {
        if let Some(endpoint) = &profile.endpoint_url {
            out.push((AmazonS3ConfigKey::Endpoint, endpoint.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests;
