#!/usr/bin/env bash
# The main job on an example: build cargo-slim-image, then turn examples/hello-http (or the example
# named as the first argument) into a FROM-scratch image, written as an oci-archive to
# target/<example>.tar, and say how to load and run it. Installs what it needs first: the
# x86_64 musl target (rustup) and, for crates with C code, musl-gcc (apt-get, when available).
#   scripts/example.sh                      # examples/hello-http -> target/hello-http.tar
#   scripts/example.sh https-client         # examples/https-client -> target/https-client.tar
#   scripts/example.sh workspace --bin bye  # extra arguments go to cargo slim-image
set -euo pipefail
cd "$(dirname "$0")/.."

example="${1:-hello-http}"
shift || true
manifest="examples/$example/Cargo.toml"
[ -f "$manifest" ] || { echo "error: no $manifest (try: $(ls examples | tr '\n' ' '))" >&2; exit 2; }

# The musl target: static binaries for a scratch image.
if command -v rustup >/dev/null; then
  rustup target add x86_64-unknown-linux-musl >&2
fi

# musl-gcc: only crates with C code need it (https-client's ring does); hello-http does not.
if ! command -v musl-gcc >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends musl-tools >&2
  elif command -v apt-get >/dev/null && command -v sudo >/dev/null; then
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends musl-tools >&2
  else
    echo "note: musl-gcc not found; crates with C code need it (Debian/Ubuntu: musl-tools)" >&2
  fi
fi

# Build the tool and run it the way cargo would (cargo passes "slim-image" as the first argument).
cargo build --release --locked >&2
tool="${CARGO_TARGET_DIR:-target}/release/cargo-slim-image"
mkdir -p target
tarball="target/$example.tar"
echo "+ cargo slim-image --manifest-path $manifest --tarball $tarball $*" >&2
result="$("$tool" slim-image --manifest-path "$manifest" --tarball "$tarball" "$@")"
echo "$result"

# How to try it: podman (or docker) loads the archive under localhost/<name>:<version>.
name="${result%%@*}"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$manifest" | head -n 1)"
image="localhost/$name:${version:-latest}"
cat >&2 <<MSG

Wrote $tarball ($(du -h "$tarball" | cut -f1)). Try it:
  podman load -i $tarball
MSG
case "$example" in
  hello-http) cat >&2 <<MSG
  podman run --rm $image --once-stdout      # hello from slim-image uid=65532
  podman run --rm -p 8080:8080 $image       # then: curl http://127.0.0.1:8080/
MSG
  ;;
  https-client) cat >&2 <<MSG
  podman run --rm $image --check-bundle     # loaded N CA certificates from /etc/ssl/certs/...
  podman run --rm $image https://example.com/
MSG
  ;;
  *) echo "  podman run --rm $image" >&2 ;;
esac
