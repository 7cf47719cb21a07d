#!/usr/bin/env bash
# Footprint of each adapter against clerk-rs: crates in the dependency tree
# of a minimal program (footprint/*: create one token, print its id), and
# the clean release build time of that program, each from an empty target
# directory, one after the other.
# Usage: bash benches/footprint.sh [PROGRAM...]   (default: all four)
set -euo pipefail
cd "$(dirname "$0")"
[ $# -eq 0 ] && set -- ureq reqwest async-std clerk-rs
out=${FOOTPRINT_TARGET:-/tmp/clerk-footprint}
mkdir -p "$out"
echo "rustc: $(rustc --version); cargo jobs: $(nproc)"
echo
echo "| program | crates, normal tree | crates compiled (normal + build) | clean release build, s | units compiled |"
echo "| --- | ---: | ---: | ---: | ---: |"
for p in "$@"; do
  pkg=min-clerk-$p; [ "$p" = clerk-rs ] && pkg=min-clerk-rs
  # Unique packages, the program itself excluded.
  normal=$(cargo tree --locked -p "$pkg" -e normal --prefix none --format '{p}' | awk '{print $1, $2}' | sort -u | grep -v "^$pkg " | wc -l)
  all=$(cargo tree --locked -p "$pkg" -e normal,build --prefix none --format '{p}' | awk '{print $1, $2}' | sort -u | grep -v "^$pkg " | wc -l)
  rm -rf "$out/$p"
  start=$(date +%s.%N)
  cargo build --locked --release -p "$pkg" --target-dir "$out/$p" 2> "$out/$p.log"
  end=$(date +%s.%N)
  units=$(grep -c '^ *Compiling' "$out/$p.log" || true)
  printf '| %s | %d | %d | %.1f | %d |\n' "$pkg" "$normal" "$all" "$(echo "$end - $start" | bc)" "$units"
done
