#!/usr/bin/env bash
# Benchmark: cargo slim-image against umoci, buildah (packaging into an OCI layout) and skopeo (pushing
# to a local registry), on three static binaries, in one run on this machine. Not run in CI.
#
#   scripts/bench.sh [--runs N] [--no-buildah] [--no-zstd]
#
# Binaries (built once, cached under target/bench/):
#   small  examples/hello-http for x86_64-unknown-linux-musl, release (< 1 MB)
#   medium ripgrep 14.1.1 from crates.io for musl, stripped (~5 MB)
#   large  the same ripgrep with line-table debug info (CARGO_PROFILE_RELEASE_DEBUG=1), not stripped
#          (~35 MB); building it takes a few minutes on 2 cores, once
# Prints a Markdown table and writes target/bench/results.json. Needs: umoci, buildah, skopeo,
# docker-registry, python3 (scripts/setup.sh installs them); a missing peer is reported and skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bench=$root/target/bench
mkdir -p "$bench/bin"
args=()
runs=5
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --no-buildah|--no-zstd) args+=("$1"); shift ;;
    *) echo "unknown argument $1 (use --runs N, --no-buildah, --no-zstd)" >&2; exit 2 ;;
  esac
done

step() { printf '\n==> %s\n' "$*" >&2; }

for tool in umoci skopeo docker-registry python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/setup.sh" >&2; exit 1; }
done
if ! command -v buildah >/dev/null; then
  echo "WARNING: buildah is not installed: SKIPPING the buildah column" >&2
  args+=(--no-buildah)
fi
rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1 || true

step "building cargo slim-image (release)"
cargo build --release --quiet
slim=${CARGO_TARGET_DIR:-$root/target}/release/cargo-slim-image

step "preparing the binaries (cached in $bench/bin)"
if [ ! -x "$bench/bin/small" ]; then
  cargo build --release --quiet --target x86_64-unknown-linux-musl \
    --manifest-path examples/hello-http/Cargo.toml --target-dir "$bench/hello-build"
  cp "$bench/hello-build/x86_64-unknown-linux-musl/release/hello-http" "$bench/bin/small"
fi
if [ ! -x "$bench/bin/large" ]; then
  # A real crate, not a synthetic file: code and DWARF compress like users' binaries do.
  CARGO_PROFILE_RELEASE_DEBUG=1 CARGO_PROFILE_RELEASE_STRIP=none \
    CARGO_TARGET_DIR="$bench/ripgrep-build" \
    cargo install ripgrep@14.1.1 --locked --quiet --target x86_64-unknown-linux-musl \
    --root "$bench/ripgrep-d1"
  cp "$bench/ripgrep-d1/bin/rg" "$bench/bin/large"
fi
if [ ! -x "$bench/bin/medium" ]; then
  strip -o "$bench/bin/medium" "$bench/bin/large"
fi
ls -l "$bench/bin" >&2

step "benchmark ($runs runs each; median)"
python3 scripts/bench/bench.py --slim "$slim" --runs "$runs" --work "$bench/work" \
  --json "$bench/results.json" --noop-manifest examples/hello-http/Cargo.toml \
  --bin small="$bench/bin/small" --bin medium="$bench/bin/medium" --bin large="$bench/bin/large" \
  "${args[@]}"
rm -rf "$bench/work"
