#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need (scripts/setup.sh: Debian
# packages, musl targets, cargo-zigbuild, binfmt), then formatting, clippy (warnings are errors), the
# docs (rustdoc warnings are errors) and every test, which use real peers (podman, skopeo, umoci, a
# local registry), then a bounded fuzzing run (scripts/fuzz.sh). A test whose tool is missing prints "SKIP: ..." outside CI and fails in CI.
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
# The docs a maintainer reads (private items too): every intra-doc link resolves, none points at
# what rustdoc cannot show.
run doc    env RUSTDOCFLAGS="-D warnings" cargo doc "${locked[@]}" --no-deps --document-private-items
test_log="$(mktemp)"
docker_dir=""
docker_pid=""
cleanup() {
  rm -f "$test_log"
  if [ -n "$docker_dir" ]; then
    # SIGTERM, so dockerd stops the containerd it started; then its files go.
    kill "$docker_pid" 2>/dev/null || true
    wait "$docker_pid" 2>/dev/null || true
    rm -rf "$docker_dir" 2>/dev/null || true
  fi
}
trap cleanup EXIT
# One Docker engine for the run (tests/docker_engine.rs; tests/common/docker.rs starts a private one
# when SLIM_TEST_DOCKER_HOST is not set). Debian 12 as root without systemd: vfs, no bridge/iptables.
if command -v dockerd >/dev/null; then
  docker_dir="$(mktemp -d /tmp/slim-dk-run.XXXXXX)"
  dockerd --storage-driver vfs --iptables=false --ip6tables=false --bridge=none \
    --data-root "$docker_dir/data" --exec-root "$docker_dir/exec" --pidfile "$docker_dir/pid" \
    -H "unix://$docker_dir/docker.sock" >"$docker_dir/dockerd.log" 2>&1 &
  docker_pid=$!
  for _ in $(seq 1 120); do
    DOCKER_HOST="unix://$docker_dir/docker.sock" docker version >/dev/null 2>&1 && break
    sleep 0.5
  done
  if DOCKER_HOST="unix://$docker_dir/docker.sock" docker version >/dev/null 2>&1; then
    export SLIM_TEST_DOCKER_HOST="unix://$docker_dir/docker.sock"
  else
    echo "warning: dockerd did not start (tests start their own); its log:" >&2
    tail -20 "$docker_dir/dockerd.log" >&2 || true
  fi
fi
run test   bash -c 'set -o pipefail; cargo test "$@" --all-targets 2>&1 | tee "'"$test_log"'"' _ "${locked[@]}"
# Bounded fuzzing (FUZZ_SECONDS per target, default 30); findings go to fuzz/findings/.
run fuzz   ./scripts/fuzz.sh

printf '\n==> summary\n' >&2
printf '  %s\n' "${results[@]}" >&2
# One closing line over every test binary: "tests: N passed, N failed".
awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$test_log"
exit "$failed"
