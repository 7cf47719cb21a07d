#!/usr/bin/env bash
# Client-side cost per sequential create call, without the clock: user-space
# instructions (callgrind, all threads) and system calls (strace -f), for
# each contender against the loopback server. Each contender runs N=500 and
# N=2500 calls; the difference over 2000 is the count per call.
# Usage: bash benches/e2e-icount.sh [CONTENDER...]   (needs valgrind, strace, bc)
# CONTENDERs: see src/bin/client-icount.rs; NAME@64 keeps 64 calls in flight.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --profile bench --locked --bin client-icount --bin loopback-server >&2
bin=target/release/client-icount
[ $# -eq 0 ] && set -- ureq ureq-timeouts clerk-ureq clerk-ureq-proposed reqwest clerk-reqwest clerk-rs hyper hyper-timeout clerk-async-std
fifo=$(mktemp -u); mkfifo "$fifo"
target/release/loopback-server 127.0.0.1:0 > "$fifo" &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$fifo"' EXIT
read -r _ addr < "$fifo"
icount() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" "$addr" 2>&1 \
  | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
syscalls() { strace -f -c -o /dev/stdout "$bin" "$1" "$2" "$addr" 2>/dev/null | awk '$NF == "total" { print $(NF-2) }'; }
echo "| contender | instructions per call | system calls per call |"
echo "| --- | ---: | ---: |"
for c in "$@"; do
  i1=$(icount "$c" 500); i2=$(icount "$c" 2500)
  s1=$(syscalls "$c" 500); s2=$(syscalls "$c" 2500)
  printf '| %s | %d | %.1f |\n' "$c" $(( (i2 - i1) / 2000 )) "$(echo "($s2 - $s1) / 2000" | bc -l)"
done
