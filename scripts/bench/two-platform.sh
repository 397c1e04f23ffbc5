#!/usr/bin/env bash
# Two platforms in one `cargo build --target A --target B` against one build after the other (issue 16):
# ripgrep 15.2.0 (pure Rust) for linux/amd64 and linux/arm64, with the release build of cargo slim-image,
# from a fresh --target-dir each time:
#   combined:   cargo slim-image --platform linux/amd64,linux/arm64            (one cargo build)
#   sequential: cargo slim-image --platform linux/amd64; then --platform linux/arm64 (two cargo builds,
#               the same target dir, as one platform after the other did before)
# and checks that both ways give the same image digest per platform. Needs scripts/bench.sh run first
# (the tool's release build and the ripgrep source under target/bench). Not run in CI; run it on a quiet
# machine.
#
#   scripts/bench/two-platform.sh [--runs N]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bench=$root/target/bench
runs=1
[ "${1:-}" = --runs ] && runs=$2
slim=${CARGO_TARGET_DIR:-$root/target}/release/cargo-slim-image
src=$bench/src/ripgrep-15.2.0
[ -x "$slim" ] && [ -f "$src/Cargo.toml" ] || { echo "run scripts/bench.sh first" >&2; exit 1; }
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
run() { "$slim" slim-image --manifest-path "$src/Cargo.toml" --locked -q "$@" > /dev/null; }
for i in $(seq "$runs"); do
  rm -rf "$work"
  mkdir -p "$work"
  t=$(now)
  run --target-dir "$work/c-target" --platform linux/amd64,linux/arm64 -o "$work/c-layout"
  combined=$(since "$t")
  t=$(now)
  run --target-dir "$work/s-target" --platform linux/amd64 -o "$work/s-amd64"
  run --target-dir "$work/s-target" --platform linux/arm64 -o "$work/s-arm64"
  sequential=$(since "$t")
  for arch in amd64 arm64; do
    a=$(digest_of "$work/c-layout" $arch)
    b=$(digest_of "$work/s-$arch" $arch)
    [ "$a" = "$b" ] || { echo "FAIL: linux/$arch image differs: combined $a, sequential $b" >&2; exit 1; }
  done
  echo "run $i: combined ${combined} s, sequential ${sequential} s (ratio $(awk "BEGIN { printf \"%.2f\", $combined / $sequential }")); same digests per platform"
done
rm -rf "$work"
