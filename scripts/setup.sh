#!/usr/bin/env bash
# Installs everything the tests talk to (registry, podman, skopeo, umoci, oci-image-tool, the musl
# targets, qemu for arm64) on Debian/Ubuntu as root. scripts/test.sh runs it first; it is safe to
# run again: every step is idempotent, and apt is skipped when every tool is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

step() { printf '\n==> %s\n' "$*" >&2; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
# cargo_tool CRATE WHAT-FAILS [VERSION]: `cargo install --locked CRATE [--version VERSION]` unless its
# command is already there.
cargo_tool() {
  step "cargo install $1${3:+ $3}"
  if command -v "$1" >/dev/null; then
    echo "$1 is already installed" >&2
  elif ! cargo install --locked --quiet "$1" ${3:+--version "$3"}; then
    warn "cargo install $1 failed; $2"
  fi
}
# find_pip: set $pip to the first of pip3, pip, `python3 -m pip` that runs ("" when none does).
find_pip() {
  local candidate
  pip=""
  for candidate in pip3 pip "python3 -m pip"; do
    if $candidate --version >/dev/null 2>&1; then pip="$candidate"; break; fi
  done
}
# pip_install PKG: `$pip install PKG`, retried with --break-system-packages: Debian's own python3
# refuses system-wide installs (PEP 668) unless told otherwise.
pip_install() {
  $pip install --quiet "$1" 2>/dev/null || $pip install --quiet --break-system-packages "$1"
}
# python_module PKG IMPORTS WHAT-FAILS: pip-install PKG unless python3 can already import IMPORTS.
python_module() {
  if python3 -c "import $2" 2>/dev/null; then
    echo "python3 $1 is already installed" >&2
  else
    find_pip
    if [ -z "$pip" ] || ! pip_install "$1"; then
      warn "could not install python3 $1; $3"
    fi
  fi
}

# --- Debian packages --------------------------------------------------------------------------
# docker-registry: CNCF distribution 2.8, the registry the push tests run against.
# podman + runc: load and run the images (crun fails on this host's hybrid cgroups).
# skopeo, umoci, oci-image-tool, python3: independent validators of what we write.
# qemu-user-static + binfmt-support: run arm64 binaries and images under emulation.
# apache2-utils: htpasswd (bcrypt) for the registry's basic auth; openssl: test CA and TLS certs.
# musl-tools: musl-gcc for crates with C code; busybox-static: a known-good static binary for the
# harness self-test. tar/gzip/file/git/ca-certificates: used by tests and cargo. binutils: readelf
# (tests/sbom.rs looks for the .dep-v0 section the tool embeds; tests/debuginfo.rs uses readelf, nm and
# addr2line). gdb: tests/debuginfo.rs resolves main's line from the split debug file. python3-cryptography: the test token
# server (tests/common/token_server.py) signs JWTs with it; tests/token_auth.rs fails under CI without it.
# docker.io: a real Docker engine (dockerd 20.10 + containerd) for tests/docker_engine.rs; scripts/test.sh
# starts it (vfs storage, no bridge, no iptables) for the run and stops it at the end. bsdutils: util-linux
# `script`, the pseudo-terminal tests/progress_colour.rs runs the tool under (progress bars, colour).
step "apt-get install"
packages=(docker-registry skopeo umoci podman buildah runc oci-image-tool
  qemu-user-static binfmt-support apache2-utils openssl musl-tools busybox-static
  python3 python3-cryptography tar gzip file git ca-certificates binutils gdb docker.io bsdutils)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "all Debian packages are installed" >&2
elif [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  warn "missing packages (${missing[*]}): install them as root with apt-get; tests that need them will SKIP"
else
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Rust: musl targets, rustfmt, clippy ------------------------------------------------------
step "rustup targets and components"
rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl
rustup component add rustfmt clippy >/dev/null 2>&1 || warn "rustup could not add rustfmt/clippy"

# --- cargo-zigbuild (brings zig: a C cross-compiler for aarch64 crates with C code) -----------
step "pip install cargo-zigbuild"
if command -v cargo-zigbuild >/dev/null; then
  echo "cargo-zigbuild is already installed" >&2
else
  find_pip
  if [ -z "$pip" ]; then
    warn "no pip found: cargo-zigbuild is not installed; arm64 builds of crates with C code will be skipped"
  elif ! pip_install cargo-zigbuild; then
    warn "pip could not install cargo-zigbuild; arm64 builds of crates with C code will be skipped"
  fi
fi

# --- binfmt for qemu-aarch64 (best effort: a container may not be allowed to do this) ---------
step "binfmt_misc for qemu-aarch64"
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null ||
    warn "cannot mount binfmt_misc; arm64 images will not run under emulation"
fi
if [ -e /proc/sys/fs/binfmt_misc/register ]; then
  update-binfmts --enable qemu-aarch64 2>/dev/null ||
    warn "update-binfmts --enable qemu-aarch64 was not permitted"
fi

# --- rust-audit-info: reads the dependency list (.dep-v0) the tool embeds in binaries, as scanners do
# (tests/repro_paths.rs; issue 12). cargo-auditable itself is not needed: the tool embeds the list.
cargo_tool rust-audit-info "tests/repro_paths.rs will SKIP reading the embedded dependency list" 0.5.4

# --- Python jsonschema: validates the SBOMs against the schemas in tests/fixtures/sbom-schemas ---
step "pip install jsonschema"
python_module jsonschema "jsonschema, referencing" "the SBOM schema tests will fail"

# --- Python cryptography: the test token server signs JWTs with it (tests/common/token_server.py).
# Debian's python3-cryptography serves /usr/bin/python3; a python3 first on PATH (pyenv, venv) needs
# its own copy.
step "python3 cryptography"
python_module cryptography cryptography "the token-auth tests will fail"
# PyNaCl: tests/signing.rs seals a cosign.key (NaCl secretbox) to check the tool opens cosign's format.
python_module pynacl nacl.secret "the cosign.key signing test will fail"

# --- cargo-fuzz: bounded fuzzing of the parsers (scripts/fuzz.sh; issue 7) -------------------------
cargo_tool cargo-fuzz "scripts/fuzz.sh will SKIP"
