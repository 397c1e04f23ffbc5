#!/usr/bin/env bash
# Benchmark: cargo slim-image against umoci, buildah (packaging into an OCI layout) and skopeo (pushing
# to a local registry), on four static binaries, in one run on this machine; then the size and speed
# targets of issue 14, each with PASS or FAIL. Not run in CI.
#
#   scripts/bench.sh [--runs N] [--no-buildah] [--no-zstd] [--no-sws]
#   scripts/bench.sh --levels [--runs N]    # only the gzip level curve (README "Compression level by
#                                           # layer size"), levels 1,4,6,9,10,11,12 on 1 and 2 cores
#
# Crates (built once by cargo slim-image itself, with their own release profiles, cached under
# target/bench/; the first run takes several minutes on 2 cores):
#   ripgrep 15.2.0 from crates.io (its release profile keeps line-table DWARF: debug = 1)
#   static-web-server 2.44.1 from crates.io (fat LTO, stripped; C code: musl-gcc); --no-sws skips it
# Binaries:
#   small  examples/hello-http for x86_64-unknown-linux-musl, release (0.4 MB)
#   medium ripgrep as it goes into the image by default (DWARF split off, symbols kept; ~6.7 MB)
#   sws    static-web-server as built (~8 MB)
#   large  ripgrep as built, with its DWARF (~34 MB)
#   (--levels also takes /bin/busybox, a 2 MB static C binary, for a point between small and medium: a
#   truncated binary is no input, the ELF check refuses it)
# Prints Markdown tables and writes target/bench/results.json (and levels.json, targets.json). Needs:
# umoci, buildah, skopeo, docker-registry, gzip, python3 (scripts/setup.sh installs them); a missing
# peer is reported and skipped. Exits 1 when a target FAILs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bench=$root/target/bench
mkdir -p "$bench/bin" "$bench/src"
args=()
runs=5
levels=0
sws=1
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --no-buildah|--no-zstd) args+=("$1"); shift ;;
    --no-sws) sws=0; shift ;;
    --levels) levels=1; shift ;;
    *) echo "unknown argument $1 (use --runs N, --no-buildah, --no-zstd, --no-sws, --levels)" >&2; exit 2 ;;
  esac
done
rg_version=15.2.0
sws_version=2.44.1

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
slim=${CARGO_TARGET_DIR:-$root/target}/release/cargo-slim-image
# The build time goes to $bench/tool-build.json; "fresh" says whether nothing of the release build was
# there before (then it is what `cargo install` costs; scripts/bench/profiles.py compares profiles on it).
fresh=false
[ -d "${CARGO_TARGET_DIR:-$root/target}/release" ] || fresh=true
start=$(date +%s.%N)
cargo build --release --quiet --locked
printf '{"seconds": %s, "fresh": %s, "rustc": "%s"}\n' "$(awk "BEGIN { print $(date +%s.%N) - $start }")" "$fresh" \
  "$(rustc --version)" > "$bench/tool-build.json"

# The source of crate $1 at version $2 in $bench/src/$1-$2, through cargo's own download: a throwaway
# package that depends on it, `cargo fetch`, then the .crate file from cargo's registry cache.
crate_src() {
  local name=$1 version=$2 dir=$bench/src/$1-$2
  [ -f "$dir/Cargo.toml" ] && return 0
  local tmp=$bench/src/fetch-$name
  mkdir -p "$tmp/src"
  printf '[package]\nname = "fetch-%s"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\n%s = "=%s"\n' \
    "$name" "$name" "$version" > "$tmp/Cargo.toml"
  : > "$tmp/src/lib.rs"
  cargo fetch --quiet --manifest-path "$tmp/Cargo.toml"
  local crate
  crate=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$name-$version.crate" | head -1)
  tar -xzf "$crate" -C "$bench/src"
  rm -rf "$tmp"
}

# Build the crate in source dir $2 with cargo slim-image, default settings, into $bench/$1-target
# (layout $bench/$1-layout, JSON report $bench/$1-report.json); print the path of its binary $3.
crate_build() {
  local name=$1 src=$2 bin=$3
  "$slim" slim-image --manifest-path "$src/Cargo.toml" --locked --target-dir "$bench/$name-target" \
    -o "$bench/$name-layout" -q --message-format json > "$bench/$name-report.json"
  # cargo slim-image builds under <target>/slim-image/.build/<settings hash>/: the newest such binary.
  ls -t "$bench/$name-target"/slim-image/.build/*/x86_64-unknown-linux-musl/release/"$bin" | head -1
}

step "preparing the binaries (cached in $bench)"
if [ ! -x "$bench/bin/small" ]; then
  cargo build --release --quiet --target x86_64-unknown-linux-musl \
    --manifest-path examples/hello-http/Cargo.toml --target-dir "$bench/hello-build"
  cp "$bench/hello-build/x86_64-unknown-linux-musl/release/hello-http" "$bench/bin/small"
fi
crate_src ripgrep "$rg_version"
rg_src=$bench/src/ripgrep-$rg_version
# A real crate, not a synthetic file: code and DWARF compress like users' binaries do.
rg_bin=$(crate_build rg "$rg_src" rg)
cp "$rg_bin" "$bench/bin/large"
# The binary the default image holds: read back out of the app layer.
python3 - "$bench/rg-layout" "$bench/bin/medium" <<'PY'
import gzip, io, json, os, sys, tarfile
lay, out = sys.argv[1:]
idx = json.load(open(os.path.join(lay, "index.json")))
blob = lambda d: open(os.path.join(lay, "blobs", "sha256", d.split(":")[1]), "rb").read()
man = json.loads(blob(idx["manifests"][0]["digest"]))
with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob(man["layers"][-1]["digest"])))) as t:
    (m,) = [m for m in t.getmembers() if m.isfile() and m.name.startswith("usr/local/bin/")]
    open(out, "wb").write(t.extractfile(m).read())
os.chmod(out, 0o755)
PY
sws_args=()
bins=(--bin small="$bench/bin/small" --bin medium="$bench/bin/medium")
if [ "$sws" = 1 ]; then
  crate_src static-web-server "$sws_version"
  sws_src=$bench/src/static-web-server-$sws_version
  sws_bin=$(crate_build sws "$sws_src" static-web-server)
  cp "$sws_bin" "$bench/bin/sws"
  sws_args=(--crate static-web-server="$bench/sws-report.json:$sws_bin")
  bins+=(--bin sws="$bench/bin/sws")
else
  echo "WARNING: --no-sws: SKIPPING static-web-server (its target is reported as FAIL)" >&2
fi
bins+=(--bin large="$bench/bin/large")
ls -l "$bench/bin" >&2

if [ "$levels" = 1 ]; then
  step "gzip level curve ($runs runs each; median)"
  lv=(--bin small="$bench/bin/small")
  [ -x /bin/busybox ] && lv+=(--bin busybox=/bin/busybox)
  lv+=(--bin medium="$bench/bin/medium")
  [ "$sws" = 1 ] && lv+=(--bin sws="$bench/bin/sws")
  lv+=(--bin large="$bench/bin/large")
  python3 scripts/bench/levels.py --slim "$slim" --runs "$runs" --work "$bench/work" \
    --json "$bench/levels.json" "${lv[@]}"
  rm -rf "$bench/work"
  exit 0
fi

step "benchmark ($runs runs each; median)"
python3 scripts/bench/bench.py --slim "$slim" --runs "$runs" --work "$bench/work" \
  --json "$bench/results.json" --noop-manifest examples/hello-http/Cargo.toml \
  "${bins[@]}" "${args[@]}"
rm -rf "$bench/work"

step "targets (issue 14)"
status=0
python3 scripts/bench/targets.py --slim "$slim" --crate ripgrep="$bench/rg-report.json:$rg_bin" \
  "${sws_args[@]}" --results "$bench/results.json" --work "$bench/work" --json "$bench/targets.json" ||
  status=$?
rm -rf "$bench/work"
exit $status
