#!/usr/bin/env bash
# Two platforms in one `cargo build --target A --target B` against one build after the other (issue 16):
# a real crate for linux/amd64 and linux/arm64, with the release build of cargo slim-image, from a fresh
# --target-dir each time. The crate is hyperfine 1.20.0 (pure Rust: both platforms link with rust-lld,
# so they share one cargo build), or with --crate ripgrep ripgrep 15.2.0 (its C code, jemalloc on musl,
# is compiled by musl-gcc for amd64 and zig for arm64, so the two are built apart anyway: this measures
# that fallback). The script checks from `-v` how many cargo builds the combined run made.
#   combined:   cargo slim-image --platform linux/amd64,linux/arm64            (one cargo build)
#   sequential: cargo slim-image --platform linux/amd64; then --platform linux/arm64 (two cargo builds,
#               the same target dir, as one platform after the other did before)
# and checks that both ways give the same image digest per platform. Needs scripts/bench.sh run first
# (the tool's release build and the ripgrep source under target/bench). Not run in CI; run it on a quiet
# machine.
#
#   scripts/bench/two-platform.sh [--runs N] [--crate hyperfine|ripgrep]
#   (N >= 2 on a new machine: the order alternates, see below)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bench=$root/target/bench
runs=1
crate=hyperfine
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --crate) crate=$2; shift 2 ;;
    *) echo "unknown argument $1 (use --runs N, --crate hyperfine|ripgrep)" >&2; exit 2 ;;
  esac
done
case "$crate" in
  hyperfine) version=1.20.0; builds=1 ;;
  ripgrep) version=15.2.0; builds=2 ;;
  *) echo "--crate hyperfine or ripgrep" >&2; exit 2 ;;
esac
slim=${CARGO_TARGET_DIR:-$root/target}/release/cargo-slim-image
[ -x "$slim" ] || { echo "run scripts/bench.sh first (it builds the tool)" >&2; exit 1; }
src=$bench/src/$crate-$version
if [ ! -f "$src/Cargo.toml" ]; then
  # As bench.sh's crate_src: cargo's own download of the .crate file.
  tmp=$bench/src/fetch-$crate
  mkdir -p "$tmp/src"
  printf '[package]\nname = "fetch-%s"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\n%s = "=%s"\n' \
    "$crate" "$crate" "$version" > "$tmp/Cargo.toml"
  : > "$tmp/src/lib.rs"
  cargo fetch --quiet --manifest-path "$tmp/Cargo.toml"
  tar -xzf "$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$crate-$version.crate" | head -1)" -C "$bench/src"
  rm -rf "$tmp"
fi
rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl >/dev/null 2>&1 || true
work=$bench/two-platform
now() { date +%s.%N; }
since() { awk "BEGIN { printf \"%.1f\", $(now) - $1 }"; }
# The digest of the manifest for platform $2 in layout $1.
digest_of() {
  python3 - "$1" "$2" <<'PY'
import json, os, sys
lay, arch = sys.argv[1:]
blob = lambda d: json.load(open(os.path.join(lay, "blobs", "sha256", d.split(":")[1])))
top = json.load(open(os.path.join(lay, "index.json")))["manifests"][0]
ms = blob(top["digest"])["manifests"] if top["mediaType"].endswith("index.v1+json") else [top]
for m in ms:
    if m.get("platform", {}).get("architecture", arch) == arch:
        print(m["digest"])
        break
PY
}
run() { "$slim" slim-image --manifest-path "$src/Cargo.toml" --locked "$@" > /dev/null; }
for i in $(seq "$runs"); do
  rm -rf "$work"
  mkdir -p "$work"
  # The order alternates between runs: the first build on a machine also fills caches outside the
  # target dir (zig's for its libc and compiler-rt, when a crate has C code), which favours the second.
  for way in $( [ $((i % 2)) = 1 ] && echo "combined sequential" || echo "sequential combined"); do
    t=$(now)
    if [ "$way" = combined ]; then
      run --target-dir "$work/c-target" --platform linux/amd64,linux/arm64 -o "$work/c-layout" -v \
        2> "$work/c.log"
      combined=$(since "$t")
      n=$(grep -c "verbose running " "$work/c.log" || true)
      [ "$n" = "$builds" ] || { echo "FAIL: the combined run made $n cargo builds, not $builds" >&2; exit 1; }
    else
      run --target-dir "$work/s-target" --platform linux/amd64 -o "$work/s-amd64" -q
      run --target-dir "$work/s-target" --platform linux/arm64 -o "$work/s-arm64" -q
      sequential=$(since "$t")
    fi
  done
  for arch in amd64 arm64; do
    a=$(digest_of "$work/c-layout" $arch)
    b=$(digest_of "$work/s-$arch" $arch)
    [ "$a" = "$b" ] || { echo "FAIL: linux/$arch image differs: combined $a, sequential $b" >&2; exit 1; }
  done
  echo "run $i ($( [ $((i % 2)) = 1 ] && echo "combined first" || echo "sequential first")): combined ${combined} s, sequential ${sequential} s (ratio $(awk "BEGIN { printf \"%.2f\", $combined / $sequential }")); same digests per platform; $crate, $n cargo build(s) in the combined run"
done
rm -rf "$work"
