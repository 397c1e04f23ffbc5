#!/usr/bin/env bash
# Bounded fuzzing of the parsers that read untrusted input (fuzz/: image references, WWW-Authenticate,
# manifest/index/config JSON, the tar reader of base layers and archives, docker-archive
# manifest.json), FUZZ_SECONDS (default 30) per target. cargo-fuzz wants a nightly
# toolchain; RUSTC_BOOTSTRAP=1 lets the stable one build the sanitizer instrumentation it needs.
# New corpus entries go to a temp dir (fuzz/seeds stays as committed). A finding is copied to
# fuzz/findings/<target>/ and the script fails: add it as a regression test in
# tests/fuzz_regressions.rs (which replays fuzz/seeds and fuzz/findings on stable Rust).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-30}"
targets=(reference www_authenticate manifest tar_layer docker_manifest)

if ! command -v cargo-fuzz >/dev/null; then
  if [ -n "${CI:-}" ]; then
    echo "error: cargo-fuzz is not installed (scripts/setup.sh installs it)" >&2
    exit 1
  fi
  echo "SKIP: fuzz: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)" >&2
  exit 0
fi

export RUSTC_BOOTSTRAP=1
target_dir="${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-target}/fuzz}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo fuzz build --target-dir "$target_dir"

failed=0
for t in "${targets[@]}"; do
  mkdir -p "$work/$t" "$work/artifacts/$t"
  printf '==> fuzz %s for %ss\n' "$t" "$seconds" >&2
  if ! cargo fuzz run --target-dir "$target_dir" "$t" "$work/$t" "fuzz/seeds/$t" -- \
      -max_total_time="$seconds" -artifact_prefix="$work/artifacts/$t/" -print_final_stats=1 \
      >"$work/$t.log" 2>&1; then
    tail -40 "$work/$t.log" >&2
    mkdir -p "fuzz/findings/$t"
    cp "$work/artifacts/$t/"* "fuzz/findings/$t/" 2>/dev/null || true
    echo "FAILED: fuzz target $t found a crash; inputs copied to fuzz/findings/$t/" >&2
    failed=1
  else
    grep -E '^stat::number_of_executed_units|^Done' "$work/$t.log" >&2 || true
  fi
done
exit "$failed"
