#!/usr/bin/env bash
# Conformance with Clerk's published OpenAPI description, checked by a real
# OpenAPI validator (openapi-core, from PyPI):
#   - every request the SDK builds (create, revoke, the user lookup) is valid;
#   - every response the description allows parses with clerk-core into the
#     right typed value or error;
#   - clerk-mock's requests and responses are valid;
#   - deliberately wrong requests and responses are rejected.
# See conformance/README.md. Usage: bash conformance/run.sh
#
# The description is not part of this repository. It is looked for at
# $CLERK_OPENAPI_SPEC, then ../shared/reference/ and shared/reference/
# (relative to the repository root). Without it this script says SKIPPED and
# exits 0. It needs python3 (with venv) and, on the first run, PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

spec_name=clerk-backend-api-2026-05-12.yml
spec=""
if [ -n "${CLERK_OPENAPI_SPEC:-}" ]; then
  # Named explicitly: a wrong path is an error, not a reason to skip.
  [ -f "$CLERK_OPENAPI_SPEC" ] || { echo "conformance: CLERK_OPENAPI_SPEC=$CLERK_OPENAPI_SPEC is not a file" >&2; exit 1; }
  spec=$CLERK_OPENAPI_SPEC
else
  for candidate in "../shared/reference/$spec_name" "shared/reference/$spec_name"; do
    if [ -f "$candidate" ]; then spec=$candidate; break; fi
  done
fi
if [ -z "$spec" ]; then
  echo "conformance: SKIPPED: Clerk's OpenAPI description ($spec_name) was not found"
  echo "  (looked at \$CLERK_OPENAPI_SPEC, ../shared/reference/ and shared/reference/)."
  echo "  Set CLERK_OPENAPI_SPEC=/path/to/$spec_name to run these checks."
  exit 0
fi
spec=$(cd "$(dirname "$spec")" && pwd)/$(basename "$spec")

started=$SECONDS
step() { printf '\n--- conformance: %s (%ss)\n' "$1" "$((SECONDS - started))"; }

step "validator (openapi-core, pinned in conformance/requirements.txt)"
python=${PYTHON:-python3}
command -v "$python" >/dev/null || { echo "conformance: $python not found; install Python 3 with venv" >&2; exit 1; }
venv=target/conformance-venv
if ! cmp -s conformance/requirements.txt "$venv/requirements.installed" 2>/dev/null \
   || ! "$venv/bin/python" -c 'import openapi_core' 2>/dev/null; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -r conformance/requirements.txt
  cp conformance/requirements.txt "$venv/requirements.installed"
fi
"$venv/bin/python" -c 'import openapi_core; print("openapi-core", openapi_core.__version__)'
echo "description: $spec"

out=target/conformance-out
rm -rf "$out"
mkdir -p "$out"
out_abs=$(cd "$out" && pwd)
failed=0

step "SDK requests and clerk-mock exchanges (cargo run --bin dump)"
cargo run --locked --quiet -p clerk-conformance --bin dump -- "$out_abs"

step "validate requests, generate and validate responses, negative checks (validate.py)"
"$venv/bin/python" conformance/validate.py check --spec "$spec" --dir "$out_abs" || failed=1

step "clerk-core parses every response (cargo test --test responses -- --ignored)"
# The test is #[ignore]d so that a plain `cargo test` reports it as ignored
# rather than passed; here it is run on purpose, and it must have run.
if [ -f "$out_abs/responses.jsonl" ]; then
  log=$out_abs/responses-test.log
  CLERK_CONFORMANCE_DIR=$out_abs cargo test --locked --quiet -p clerk-conformance --test responses \
    -- --ignored --exact clerk_core_parses_every_documented_response --nocapture 2>&1 \
    | tee "$log" || failed=1
  if ! grep -q '^test result: ok\. 1 passed; 0 failed' "$log"; then
    echo "conformance: the responses test did not run and pass exactly once" >&2
    failed=1
  fi
else
  echo "no generated responses to parse" >&2
  failed=1
fi

step "summary (files in $out)"
"$venv/bin/python" conformance/validate.py summary --dir "$out_abs" || failed=1
exit "$failed"
