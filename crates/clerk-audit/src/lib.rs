//! The security audit of the Clerk sign-in token SDK.
//!
//! This crate has no code of its own: its integration tests (`tests/it`)
//! check every claim of the repository's `SECURITY.md` against `clerk-core`
//! and the three adapters, `clerk-ureq`, `clerk-reqwest` and
//! `clerk-async-std`, with their `tracing` features on. Run them with
//! `cargo test -p clerk-audit`; add `-- --nocapture` to see the measurements
//! of the hostile-server cases.

#![forbid(unsafe_code)]
