//! Attacks on the plugin cache: a library planted in the coordinator's or
//! a worker's cache under a real app's hash is never run, and unsafe cache
//! or plugin folders stop the process at start.

use super::*;

fn library(stem: &str) -> PathBuf {
    plugins_dir().join(format!(
        "{}{stem}.{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_EXTENSION
    ))
}

fn private_dir(path: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).unwrap();
    path.to_path_buf()
}

/// A cache folder holding, under wc's hash and size, another app's library
/// (the smallest of the others, padded with zeros: the dynamic loader
/// ignores the tail): what someone who could write the cache would plant.
/// Returns wc's hash.
fn poisoned_cache(cache: &Path) -> String {
    let wc = std::fs::read(library("mr_app_wc")).unwrap();
    let mut planted = ["mr_app_grep", "mr_app_sort", "mr_app_vertex_degree"]
        .iter()
        .map(|stem| std::fs::read(library(stem)).unwrap())
        .min_by_key(Vec::len)
        .unwrap();
    assert!(
        planted.len() <= wc.len(),
        "another app's library must be smaller than wc's"
    );
    planted.resize(wc.len(), 0);
    let sha = mapreduce::plugin::sha256_hex(&wc);
    private_dir(cache);
    let name = format!("{sha}.{}", std::env::consts::DLL_EXTENSION);
    std::fs::write(cache.join(name), planted).unwrap();
    sha
}

/// A plugin folder with only wc in it.
fn wc_only(dir: &Path) -> PathBuf {
    let dir = private_dir(dir);
    std::os::unix::fs::symlink(library("mr_app_wc"), dir.join("libmr_app_wc.so")).unwrap();
    dir
}

/// Starts a coordinator with wc as its only app and `cache` as its plugin
/// cache; its URL and a client.
async fn wc_coordinator(dir: &Path, cache: &Path) -> (Server, String, Client) {
    let mut cmd = coordinator_cmd(&wc_only(&dir.join("plugins")));
    cmd.env("MR_PLUGIN_CACHE", cache);
    let mut coordinator = Server::start("coordinator", dir.join("coordinator.log"), cmd);
    let url = format!("http://{}", coordinator.listening(""));
    let client = Client::connect(&url).await.unwrap();
    (coordinator, url, client)
}

/// A planted library in the coordinator's cache is not what it loads as
/// wc: it loads the bytes it hashed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_library_in_the_coordinators_cache_is_never_run() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("coordinator-cache");
    let wc_sha = poisoned_cache(&cache);
    let (_coordinator, _url, client) = wc_coordinator(dir.path(), &cache).await;
    let apps = client.apps().await.unwrap();
    let names: Vec<(&str, &str)> = apps
        .iter()
        .map(|a| (a.name.as_str(), a.sha256.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![("wc", wc_sha.as_str())],
        "the coordinator loaded the planted library"
    );
    let kept = std::fs::read(cache.join(format!("{wc_sha}.{}", std::env::consts::DLL_EXTENSION)));
    assert_eq!(
        mapreduce::plugin::sha256_hex(&kept.unwrap()),
        wc_sha,
        "the planted copy was replaced by the real one"
    );
}

/// A worker that fetches wc by hash does not run a library planted in its
/// cache under that hash, not even on the task's retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_library_in_a_workers_cache_is_never_run() {
    let dir = tempfile::tempdir().unwrap();
    poisoned_cache(&dir.path().join("worker-cache"));
    let clean = private_dir(&dir.path().join("coordinator-cache"));
    let (_coordinator, url, client) = wc_coordinator(dir.path(), &clean).await;
    let mut cmd = mr();
    cmd.env("MR_PLUGIN_CACHE", dir.path().join("worker-cache"))
        .args(["worker", "--coordinator", &url, "--plugins"])
        .arg(private_dir(&dir.path().join("no-plugins")));
    let _worker = Server::start("worker", dir.path().join("worker.log"), cmd);
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "to be or not to be\n").unwrap();
    let job = client.submit(wc_job(dir.path(), &[input])).await.unwrap();
    let view = tokio::time::timeout(STEP, client.wait(job, |_| {}))
        .await
        .expect("the job ends")
        .unwrap();
    assert!(!view.failed, "{view:?}");
    let counts = common::wc_records(&common::read_output_dir(&dir.path().join("out"), 1));
    let expected: std::collections::BTreeMap<String, u64> =
        [("be", 2), ("not", 1), ("or", 1), ("to", 2)]
            .into_iter()
            .map(|(w, n)| (w.to_string(), n))
            .collect();
    assert_eq!(counts, expected, "the worker ran something else as wc");
}

/// A cache folder others may write to, or that another user owns, stops
/// the process at start with a message naming it and the fix.
#[test]
fn an_unsafe_plugin_cache_or_folder_is_refused_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let plugins = wc_only(&dir.path().join("plugins"));
    let cache = private_dir(&dir.path().join("cache"));
    let start = |cache: &Path, plugins: &Path| {
        let out = coordinator_cmd(plugins)
            .env("MR_PLUGIN_CACHE", cache)
            .output()
            .unwrap();
        assert!(!out.status.success(), "it started");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = start(&cache, &plugins);
    assert!(
        err.contains("plugin cache folder")
            && err.contains("writable by other users")
            && err.contains("chmod go-w"),
        "{err}"
    );
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();

    // A parent of the plugin folder writable by anyone, without the sticky
    // bit: anyone could rename the folder and put their own in its place.
    let open = dir.path().join("open");
    let nested = wc_only(&open.join("plugins"));
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = start(&cache, &nested);
    assert!(
        err.contains("refusing to load plugins from") && err.contains("sticky"),
        "{err}"
    );

    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::chown(&cache, Some(65534), None).unwrap();
        let err = start(&cache, &plugins);
        assert!(err.contains("owned by user 65534"), "{err}");
        std::os::unix::fs::chown(&plugins, Some(65534), None).unwrap();
        let err = start(&private_dir(&dir.path().join("cache2")), &plugins);
        assert!(
            err.contains("refusing to load plugins from") && err.contains("owned by user 65534"),
            "{err}"
        );
    }
}
