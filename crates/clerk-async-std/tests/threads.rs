//! Which threads a call starts, by executor, by base URL (a host name or
//! an IP literal) and by the number of calls in flight.
//!
//! Which threads run is a fact about a whole process, so each scene runs
//! in a process of its own: `which_threads_each_scene_starts` runs this
//! binary again once per scene, with `scene` as the only test, against one
//! stand-in server of its own process. A scene names the threads that
//! appeared while its executor's `block_on` started (the executor's own)
//! and those that appeared during the calls (the client's), as
//! `/proc/self/task/*/comm` gives them (cut at 15 bytes).

#![cfg(target_os = "linux")]

use std::collections::BTreeMap;
use std::process::Command;

use clerk_async_std::{Client, Config, CreateSignInToken, RetryPolicy};
use clerk_mock::MockServer;

/// async-std's executor threads in a scene's process: fixed, so that a
/// scene can name them. (Its default is one per CPU.)
const ASYNC_STD_THREADS: usize = 2;

/// A thread name and how many threads have it.
type Threads = BTreeMap<String, usize>;

fn threads(names: &[(&str, usize)]) -> Threads {
    names.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect()
}

/// What one scene saw: the executor's threads, then the client's.
#[derive(Debug, PartialEq)]
struct Seen {
    executor: Threads,
    client: Threads,
}

/// Runs `scene` (see [`scene`]) in a process of its own against `server`.
fn run_scene(server: &MockServer, user: &str, scene: &str, host: &str) -> Seen {
    let base_url = format!("http://{host}:{}/v1", server.addr().port());
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["scene", "--exact", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env("CLERK_SCENE", scene)
        .env("CLERK_BASE_URL", &base_url)
        .env("CLERK_SECRET_KEY", server.secret_key())
        .env("CLERK_USER", user)
        .env("ASYNC_STD_THREAD_COUNT", ASYNC_STD_THREADS.to_string())
        .env_remove("ASYNC_STD_THREAD_NAME")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{scene} on {host}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |tag: &str| -> Threads {
        let list = stdout
            .lines()
            .find_map(|l| l.split_once(tag).map(|(_, list)| list))
            .unwrap_or_else(|| panic!("{scene} on {host}: no {tag}\n{stdout}"));
        let mut counted = Threads::new();
        for name in list.split(',').filter(|n| !n.is_empty()) {
            *counted.entry(name.to_owned()).or_default() += 1;
        }
        counted
    };
    Seen {
        executor: line("EXECUTOR "),
        client: line("CLIENT "),
    }
}

/// Every scene, against one stand-in server. One call at a time, a call
/// needs its caller's thread and, for good, the crate's `clerk-idle`; a host name adds one thread of the `blocking` crate's
/// pool, for the lookup (it ends after a while without work). No call
/// starts async-std's executor, but more than four at once do (connections
/// lent to tasks of their own). Under async-std's `block_on`, the
/// executor's threads and async-io's are started by `block_on` itself;
/// smol's `block_on` starts async-io's only when something waits on the
/// reactor, and the first call does.
#[test]
fn which_threads_each_scene_starts() {
    let server = MockServer::start();
    let user = server.create_user();
    let async_std_executor = ("async-std/runti", ASYNC_STD_THREADS);
    let client_own = [("clerk-idle", 1)];
    let with = |extra: &[(&'static str, usize)]| {
        let mut all: Vec<(&str, usize)> = client_own.to_vec();
        all.extend_from_slice(extra);
        threads(&all)
    };
    let cases = [
        (
            "smol",
            "127.0.0.1",
            Seen {
                executor: threads(&[]),
                client: with(&[("async-io", 1)]),
            },
        ),
        (
            "smol",
            "localhost",
            Seen {
                executor: threads(&[]),
                client: with(&[("async-io", 1), ("blocking-1", 1)]),
            },
        ),
        (
            "async-std",
            "127.0.0.1",
            Seen {
                executor: threads(&[("async-io", 1), async_std_executor]),
                client: with(&[]),
            },
        ),
        (
            "async-std",
            "localhost",
            Seen {
                executor: threads(&[("async-io", 1), async_std_executor]),
                client: with(&[("blocking-1", 1)]),
            },
        ),
        (
            "smol-8-in-flight",
            "127.0.0.1",
            Seen {
                executor: threads(&[]),
                client: with(&[("async-io", 1), async_std_executor]),
            },
        ),
    ];
    let mut failed = Vec::new();
    for (scene, host, want) in cases {
        let seen = run_scene(&server, &user, scene, host);
        if seen != want {
            failed.push(format!(
                "{scene} on {host}:\n  saw  {seen:?}\n  want {want:?}"
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// One scene, in a process started by `which_threads_each_scene_starts`:
/// prints the threads the executor's `block_on` started and those the
/// calls started.
#[test]
#[ignore = "a scene, run in a process of its own by which_threads_each_scene_starts"]
fn scene() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} unset"));
    let scene = var("CLERK_SCENE");
    let user = var("CLERK_USER");
    let config = Config::new(var("CLERK_SECRET_KEY"))
        .unwrap()
        .with_base_url(&var("CLERK_BASE_URL"))
        .unwrap()
        .with_retry_policy(RetryPolicy::never());
    let client = Client::new(config).unwrap();
    let call = || async {
        client
            .create_sign_in_token(CreateSignInToken::new(&user))
            .await
            .unwrap();
    };
    let outside = settled_names();
    let (inside, after) = match scene.as_str() {
        // Three calls one after the other: a new connection, then pooled.
        "smol" => smol::block_on(async {
            let inside = settled_names();
            for _ in 0..3 {
                call().await;
            }
            (inside, settled_names())
        }),
        "async-std" => async_std::task::block_on(async {
            let inside = settled_names();
            for _ in 0..3 {
                call().await;
            }
            (inside, settled_names())
        }),
        // Eight calls at once on one thread, each in a task of smol's.
        "smol-8-in-flight" => {
            let executor = smol::LocalExecutor::new();
            smol::block_on(executor.run(async {
                let inside = settled_names();
                let calls: Vec<_> = (0..8).map(|_| executor.spawn(call())).collect();
                for c in calls {
                    c.await;
                }
                (inside, settled_names())
            }))
        }
        other => panic!("no scene {other}"),
    };
    println!("EXECUTOR {}", added(&outside, &inside).join(","));
    println!("CLIENT {}", added(&inside, &after).join(","));
}

/// This process's thread names, once two reads 20 ms apart agree: a new
/// thread carries the name of the thread that started it until it has
/// set its own.
fn settled_names() -> Vec<String> {
    let read = || {
        let mut names = clerk_scenarios::thread_names();
        names.sort();
        names
    };
    let mut last = read();
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let now = read();
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the threads never settled: {last:?}");
}

/// The names in `after` that `before` did not have (as many times as
/// `after` has them more), sorted.
fn added(before: &[String], after: &[String]) -> Vec<String> {
    let mut left = before.to_vec();
    let mut out = Vec::new();
    for name in after {
        match left.iter().position(|n| n == name) {
            Some(i) => {
                left.swap_remove(i);
            }
            None => out.push(name.clone()),
        }
    }
    out.sort();
    out
}
