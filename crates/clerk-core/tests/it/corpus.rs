//! Replays the committed fuzz seeds and corpus on stable, so every CI run
//! exercises each input the fuzzers kept.

use std::fs;
use std::path::{Path, PathBuf};

use clerk_core::fuzzing::OPERATIONS;

type Target = (&'static str, fn(&[u8]));

/// Every target in `fuzz/Cargo.toml`; `reply` covers every operation in
/// `clerk_core::fuzzing::OPERATIONS`.
const TARGETS: [Target; 5] = [
    ("reply", clerk_core::fuzzing::reply),
    ("error_body", clerk_core::fuzzing::error_body),
    ("retry_after", clerk_core::fuzzing::retry_after),
    ("build_request", clerk_core::fuzzing::build_request),
    ("retry_driver", clerk_core::fuzzing::retry_driver),
];

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect()
}

#[test]
fn fuzz_corpus_replays_clean() {
    let fuzz = fuzz_dir();
    for (target, run) in TARGETS {
        let mut inputs = 0;
        let dirs = [
            fuzz.join("seeds").join(target),
            fuzz.join("corpus").join(target),
        ];
        for path in dirs.iter().flat_map(|dir| files(dir)) {
            let data = fs::read(&path).unwrap();
            if let Err(panic) = std::panic::catch_unwind(|| run(&data)) {
                panic!("{target} failed on {}: {panic:?}", path.display());
            }
            inputs += 1;
        }
        assert!(inputs > 0, "the {target} corpus is empty");
    }
}

/// The fuzz crate builds exactly the targets replayed here.
#[test]
fn every_fuzz_target_is_replayed() {
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    let mut built: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|name| *name != "clerk-core-fuzz")
        .collect();
    built.sort_unstable();
    let mut replayed: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
    replayed.sort_unstable();
    assert_eq!(built, replayed);
}

/// Each operation's reply parser has seeds of its own, named after it, whose
/// first byte picks it: a new operation cannot join the table unseeded.
#[test]
fn every_operation_has_reply_seeds() {
    let seeds = files(&fuzz_dir().join("seeds/reply"));
    for (index, entry) in OPERATIONS.iter().enumerate() {
        let own: Vec<&PathBuf> = seeds
            .iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{}-", entry.name)))
            })
            .collect();
        assert!(own.len() >= 5, "{}: {} seeds", entry.name, own.len());
        for path in own {
            let data = fs::read(path).unwrap();
            let selector = usize::from(data.first().copied().unwrap_or(0));
            assert_eq!(selector % OPERATIONS.len(), index, "{}", path.display());
        }
    }
}

/// The user-list seeds hold what their names say: `ok-…` decodes (but for
/// the one with the wrong content type), every other one is an error.
#[test]
fn user_list_seeds_say_what_they_hold() {
    use clerk_core::{ListUsers, Operation};
    let op = ListUsers::by_email_addresses(["ann@example.com"]);
    let mut checked = 0;
    for path in files(&fuzz_dir().join("seeds/reply")) {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let Some(case) = name.strip_prefix("list_users-") else {
            continue;
        };
        let data = fs::read(&path).unwrap();
        let reply = clerk_core::fuzzing::response_from_bytes(&data[1..]);
        let result = op.parse_response(&reply);
        let ok = case.starts_with("ok-") && case != "ok-wrong-ct";
        assert_eq!(result.is_ok(), ok, "{name}: {result:?}");
        checked += 1;
    }
    assert!(checked >= 15);
}
