#!/usr/bin/env bash
# Instructions per core operation under callgrind, SDK against its baseline.
# Each operation runs twice, N=1000 and N=11000 iterations; the difference
# over 10000 is the count per operation (start-up cancels out).
# Usage: bash benches/icount.sh   (needs valgrind: apt-get install valgrind)
set -euo pipefail
cd "$(dirname "$0")"
cargo build --profile bench --locked --bin icount >&2
bin=target/release/icount
count() { # op n -> instructions
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
declare -A per
for op in build_sdk build_by_hand build_by_hand_tuned parse_sdk parse_bare_serde error_sdk error_bare_serde error_sdk_whole_reply; do
  a=$(count "$op" 1000); b=$(count "$op" 11000)
  per[$op]=$(( (b - a) / 10000 ))
  printf '%-24s %8d instructions/op\n' "$op" "${per[$op]}"
done
ratio() { awk -v a="$2" -v b="$3" -v n="$1" 'BEGIN { printf "%-44s %.3f\n", n, a / b }'; }
echo
ratio "build: sdk / by hand"            "${per[build_sdk]}" "${per[build_by_hand]}"
ratio "build: sdk / by hand (tuned)"    "${per[build_sdk]}" "${per[build_by_hand_tuned]}"
ratio "parse: sdk / bare serde"         "${per[parse_sdk]}" "${per[parse_bare_serde]}"
ratio "error: sdk / bare serde"         "${per[error_sdk]}" "${per[error_bare_serde]}"
