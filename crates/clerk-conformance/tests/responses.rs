//! clerk-core against every response Clerk's OpenAPI description allows.
//!
//! `conformance/run.sh` generates the responses from the description, checks
//! each against it with an OpenAPI validator, and runs this test with
//! `CLERK_CONFORMANCE_DIR` naming the directory that holds them
//! (`responses.jsonl`), together with clerk-mock's exchanges
//! (`mock_exchanges.jsonl`). Every response is parsed with clerk-core and the
//! typed value compared with the JSON: see `clerk_conformance::check`.
//!
//! The test is `#[ignore]`d, so a plain `cargo test` reports it as ignored,
//! not passed: without the description (not part of this repository) there
//! is nothing to check. `run.sh` runs it with `--ignored` and fails unless it
//! ran and passed; run that way without `CLERK_CONFORMANCE_DIR`, it fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clerk_conformance::check::{Case, Outcome};
use clerk_conformance::{DIR_ENV, files};
use serde_json::{Value, json};

fn read_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}:{}: not JSON: {e}", path.display(), i + 1))
        })
        .collect()
}

/// The cases of clerk-mock's exchanges: each response, expected to parse as
/// a token (2xx) or Clerk's refusal (any error status with a Clerk body).
fn mock_cases(lines: &[Value]) -> Vec<Case> {
    lines
        .iter()
        .map(|x| {
            let response = &x["response"];
            let status = response["status"].as_u64().unwrap_or_default();
            let expect = if (200..300).contains(&status) {
                "ok"
            } else {
                "api"
            };
            let line = json!({
                "name": format!("clerk-mock: {}", x["name"].as_str().unwrap_or("?")),
                "operation": x["operation"],
                "status": status,
                "headers": response["headers"],
                "body": response["body"],
                "expect": expect,
                "source": "clerk-mock",
            });
            Case::from_json(&line).unwrap_or_else(|e| panic!("bad exchange {x}: {e}"))
        })
        .collect()
}

#[test]
#[ignore = "needs the responses conformance/run.sh generates from Clerk's OpenAPI description"]
fn clerk_core_parses_every_documented_response() {
    let Some(dir) = std::env::var_os(DIR_ENV).map(PathBuf::from) else {
        panic!(
            "{DIR_ENV} is not set: `bash conformance/run.sh` generates the responses \
             from Clerk's OpenAPI description and runs this test on them"
        );
    };
    let generated: Vec<Case> = read_lines(&dir.join(files::RESPONSES))
        .iter()
        .map(|l| Case::from_json(l).unwrap_or_else(|e| panic!("bad case {l}: {e}")))
        .collect();
    let mock = mock_cases(&read_lines(&dir.join(files::MOCK_EXCHANGES)));
    assert!(
        !generated.is_empty(),
        "no generated responses in {}",
        dir.display()
    );
    assert!(
        !mock.is_empty(),
        "no clerk-mock exchanges in {}",
        dir.display()
    );

    let mut failures = Vec::new();
    // (source, operation, status, outcome) -> count
    let mut counts: BTreeMap<(&str, &str, u16, Outcome), usize> = BTreeMap::new();
    for case in generated.iter().chain(&mock) {
        match case.check() {
            Ok(outcome) => {
                *counts
                    .entry((case.source.as_str(), case.op.name(), case.status, outcome))
                    .or_default() += 1;
            }
            Err(e) => failures.push(format!("{}: {e}", case.name)),
        }
    }
    let report = json!({
        "parsed": counts
            .iter()
            .map(|((source, op, status, outcome), n)| json!({
                "source": source, "operation": op, "status": status,
                "outcome": outcome.name(), "count": n,
            }))
            .collect::<Vec<_>>(),
        "failures": failures,
    });
    let report_path = dir.join(files::RUST_REPORT);
    std::fs::write(&report_path, report.to_string())
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", report_path.display()));
    for ((source, op, status, outcome), n) in &counts {
        println!("{source:>24} {op:<6} {status} -> {outcome:<6} {n:>5}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} responses were not parsed as the description says:\n{}",
        failures.len(),
        generated.len() + mock.len(),
        failures.join("\n")
    );
    println!(
        "clerk-core parsed {} generated and {} clerk-mock responses as documented",
        generated.len(),
        mock.len()
    );
}
