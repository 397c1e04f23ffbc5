#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need (scripts/setup.sh: Debian
# packages, musl targets, cargo-zigbuild, binfmt), then formatting, clippy (warnings are errors) and
# every test, which use real peers (podman, skopeo, umoci, a local registry), then a bounded fuzzing
# run (scripts/fuzz.sh). A test whose tool is missing prints "SKIP: ..." outside CI and fails in CI.
# SLIM_SKIP_SETUP=1 skips the install step. Prints a summary of the steps at the end; exits non-zero
# if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${SLIM_SKIP_SETUP:-0}" != 1 ]; then
  ./scripts/setup.sh
fi

# Use the committed Cargo.lock when there is one, so CI builds exactly what was reviewed.
locked=()
if [ -f Cargo.lock ] && git ls-files --error-unmatch Cargo.lock >/dev/null 2>&1; then
  locked=(--locked)
fi

results=()
failed=0
run() {
  local name="$1"; shift
  printf '\n==> %s: %s\n' "$name" "$*" >&2
  local start=$SECONDS
  if "$@"; then
    results+=("ok      $name ($((SECONDS - start))s)")
  else
    results+=("FAILED  $name ($((SECONDS - start))s): $*")
    failed=1
  fi
}

run fmt    cargo fmt --check
run clippy cargo clippy "${locked[@]}" --all-targets -- -D warnings
test_log="$(mktemp)"
trap 'rm -f "$test_log"' EXIT
run test   bash -c 'set -o pipefail; cargo test "$@" --all-targets 2>&1 | tee "'"$test_log"'"' _ "${locked[@]}"
# Bounded fuzzing (FUZZ_SECONDS per target, default 30); findings go to fuzz/findings/.
run fuzz   ./scripts/fuzz.sh

printf '\n==> summary\n' >&2
printf '  %s\n' "${results[@]}" >&2
# One closing line over every test binary: "tests: N passed, N failed".
awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$test_log"
exit "$failed"
