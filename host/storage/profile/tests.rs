//! Tests of profile loading and of its precedence under the environment.

use std::collections::HashMap;

use super::*;

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| vars.get(name).cloned()
}

const CREDENTIALS: &str = "[default]\naws_access_key_id = DEFAULT_ID\n\
    aws_secret_access_key = DEFAULT_SECRET\n\
    [ci]\naws_access_key_id = CI_ID\naws_secret_access_key = CI_SECRET\n\
    aws_session_token = CI_TOKEN\n[half]\naws_access_key_id = ONLY\n";
const CONFIG: &str = "[default]\nregion = us-west-2\n\
    [profile ci]\nregion = eu-central-1\nendpoint_url = http://127.0.0.1:9000\n\
    aws_access_key_id = CONFIG_ID\naws_secret_access_key = CONFIG_SECRET\n\
    [profile conf-only]\nregion = ap-south-1\n";

/// A home folder with both files in `~/.aws`.
fn home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".aws")).unwrap();
    std::fs::write(home.path().join(".aws/credentials"), CREDENTIALS).unwrap();
    std::fs::write(home.path().join(".aws/config"), CONFIG).unwrap();
    home
}

#[test]
fn the_default_profile_comes_from_the_home_folder() {
    let home = home();
    let p = load(&env_of(&[]), Some(home.path())).unwrap();
    assert_eq!(p.name, "default");
    assert_eq!(p.access_key_id.as_deref(), Some("DEFAULT_ID"));
    assert_eq!(p.secret_access_key.as_deref(), Some("DEFAULT_SECRET"));
    assert_eq!(p.region.as_deref(), Some("us-west-2"));
    assert_eq!(p.session_token, None);
}

#[test]
fn aws_profile_picks_a_profile_and_the_credentials_file_wins() {
    let home = home();
    let p = load(&env_of(&[("AWS_PROFILE", "ci")]), Some(home.path())).unwrap();
    assert_eq!(p.access_key_id.as_deref(), Some("CI_ID"), "not CONFIG_ID");
    assert_eq!(p.secret_access_key.as_deref(), Some("CI_SECRET"));
    assert_eq!(p.session_token.as_deref(), Some("CI_TOKEN"));
    assert_eq!(p.region.as_deref(), Some("eu-central-1"));
    assert_eq!(p.endpoint_url.as_deref(), Some("http://127.0.0.1:9000"));
    let p = load(&env_of(&[("AWS_PROFILE", "conf-only")]), Some(home.path())).unwrap();
    assert_eq!(
        (p.access_key_id, p.region.as_deref()),
        (None, Some("ap-south-1"))
    );
}

#[test]
fn file_locations_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let (creds, conf) = (dir.path().join("c.ini"), dir.path().join("f.ini"));
    std::fs::write(
        &creds,
        "[x]\naws_access_key_id=A\naws_secret_access_key=B\n",
    )
    .unwrap();
    std::fs::write(&conf, "[profile x]\nregion = r1\n").unwrap();
    let env = env_of(&[
        ("AWS_PROFILE", "x"),
        ("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()),
        ("AWS_CONFIG_FILE", conf.to_str().unwrap()),
    ]);
    let p = load(&env, None).unwrap();
    assert_eq!(p.access_key_id.as_deref(), Some("A"));
    assert_eq!(p.region.as_deref(), Some("r1"));
}

#[test]
fn a_named_profile_that_is_nowhere_is_an_error_naming_it() {
    let home = home();
    let e = load(&env_of(&[("AWS_PROFILE", "nope")]), Some(home.path())).unwrap_err();
    assert!(matches!(&e, ProfileError::Missing { profile, .. } if profile == "nope"));
    let text = e.to_string();
    assert!(
        text.contains("\"nope\"") && text.contains(".aws/credentials"),
        "{text}"
    );
    // No files and no AWS_PROFILE: nothing to add, no error.
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        load(&env_of(&[]), Some(empty.path())).unwrap(),
        Profile {
            name: "default".into(),
            ..Profile::default()
        }
    );
}

#[test]
fn half_a_key_pair_and_bad_lines_are_errors_naming_the_profile() {
    let home = home();
    let e = load(&env_of(&[("AWS_PROFILE", "half")]), Some(home.path())).unwrap_err();
    assert!(
        e.to_string().contains("\"half\" sets aws_access_key_id"),
        "{e}"
    );
    std::fs::write(home.path().join(".aws/config"), "[default]\nnonsense\n").unwrap();
    let e = load(&env_of(&[]), Some(home.path())).unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
}

fn keys(settings: &[(AmazonS3ConfigKey, String)]) -> Vec<(String, String)> {
    settings
        .iter()
        .map(|(k, v)| (k.as_ref().to_string(), v.clone()))
        .collect()
}

#[test]
fn the_environment_wins_over_the_profile() {
    let profile = Profile {
        name: "ci".into(),
        access_key_id: Some("P_ID".into()),
        secret_access_key: Some("P_SECRET".into()),
        session_token: Some("P_TOKEN".into()),
        region: Some("p-region".into()),
        endpoint_url: Some("http://profile".into()),
    };
    let all = keys(&settings(&profile, &env_of(&[])));
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    assert_eq!(
        all,
        [
            pair("aws_access_key_id", "P_ID"),
            pair("aws_secret_access_key", "P_SECRET"),
            pair("aws_session_token", "P_TOKEN"),
            pair("aws_region", "p-region"),
            pair("aws_endpoint", "http://profile"),
        ]
    );
    // Credentials from the environment come whole: no profile token
    // beside the environment's key.
    let env = env_of(&[
        ("AWS_ACCESS_KEY_ID", "E_ID"),
        ("AWS_DEFAULT_REGION", "e-region"),
        ("AWS_ENDPOINT_URL", "http://env"),
    ]);
    assert!(settings(&profile, &env).is_empty());
    // An empty variable counts as unset.
    let env = env_of(&[("AWS_ACCESS_KEY_ID", ""), ("AWS_REGION", "e")]);
    let some = keys(&settings(&profile, &env));
    assert_eq!(some.len(), 4, "{some:?}");
    assert!(!some.iter().any(|(k, _)| k == "aws_region"), "{some:?}");
}
