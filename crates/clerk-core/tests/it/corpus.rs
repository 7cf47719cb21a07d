//! Replays the committed fuzz seeds and corpus on stable, so every CI run
//! exercises each input the fuzzers kept.

use std::fs;
use std::path::PathBuf;

type Target = (&'static str, fn(&[u8]));

const TARGETS: [Target; 6] = [
    ("create_response", clerk_core::fuzzing::create_response),
    ("revoke_response", clerk_core::fuzzing::revoke_response),
    ("error_body", clerk_core::fuzzing::error_body),
    ("retry_after", clerk_core::fuzzing::retry_after),
    ("build_request", clerk_core::fuzzing::build_request),
    ("retry_driver", clerk_core::fuzzing::retry_driver),
];

#[test]
fn fuzz_corpus_replays_clean() {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for (target, run) in TARGETS {
        let mut inputs = 0;
        let dirs = [
            fuzz.join("seeds").join(target),
            fuzz.join("corpus").join(target),
        ];
        let entries = dirs
            .iter()
            .flat_map(|dir| fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())));
        for entry in entries {
            let path = entry.unwrap().path();
            let data = fs::read(&path).unwrap();
            if let Err(panic) = std::panic::catch_unwind(|| run(&data)) {
                panic!("{target} failed on {}: {panic:?}", path.display());
            }
            inputs += 1;
        }
        assert!(inputs > 0, "the {target} corpus is empty");
    }
}
