//! Placeholder until the core builds.
fn main() {}
