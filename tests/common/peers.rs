//! Real peers for the integration tests: podman, skopeo, umoci, oci-image-tool and a strict tar
//! reader, each run as a subprocess with failure messages that show what was run and what it said.
//!
//! Tools are only ever missing outside CI (`bash .ci/run` installs them all): [`require!`] makes a
//! test return early with a loud `SKIP:` line, and fails it instead when `CI` is set, so CI never
//! passes by skipping. [`Podman`] is an isolated podman (own storage, runroot, tmpdir, auth file
//! and containers.conf under a temp dir) set up the way it works on a root, non-systemd Debian 12
//! machine: runc, cgroupfs, file events logger, explicit ulimits (the defaults are not permitted
//! here), overlay storage when the kernel allows it and vfs otherwise.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};
use tempfile::TempDir;

mod podman;
#[allow(unused_imports)] // test crates that start no podman do not use it
pub use podman::Podman;

/// Is `tool` an executable on `PATH` (or in /usr/sbin, /sbin, where Debian puts runc)?
pub fn have(tool: &str) -> bool {
    which(tool).is_some()
}

/// The full path of `tool` on `PATH`, else in /usr/sbin or /sbin.
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(tool))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Whether `CI` is set (to anything but empty, `false` or `0`).
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// True when every tool is present. Otherwise prints `SKIP: <test>: <tool> is not installed` and
/// returns false, or panics when `CI` is set (CI installs everything; a skip there is a bug).
/// `fn_path` is the `type_name` of a function inside the test, as [`require!`] passes it.
pub fn check_tools(fn_path: &str, tools: &[&str]) -> bool {
    // "peers_selftest::podman_runs::here" -> "podman_runs", as libtest names the test
    let path = fn_path.strip_suffix("::here").unwrap_or(fn_path);
    let test = path.split_once("::").map_or(path, |(_, rest)| rest);
    let Some(missing) = tools.iter().find(|t| !have(t)) else {
        return true;
    };
    if in_ci() {
        panic!("{test}: {missing} is not installed, and CI must run every test (bash .ci/run installs it)");
    }
    // Straight to fd 2, past libtest's capture of eprintln!, so the skip shows in every run.
    let _ = writeln!(
        std::io::stderr(),
        "SKIP: {test}: {missing} is not installed (bash .ci/run installs it)"
    );
    false
}

/// Whether the qemu-aarch64 binfmt handler is enabled, so arm64 binaries run here. When it is not:
/// a `SKIP (part)` line and false, or a failure under `CI` (scripts/setup.sh enables it there).
pub fn binfmt_aarch64() -> bool {
    let on = std::fs::read_to_string("/proc/sys/fs/binfmt_misc/qemu-aarch64")
        .is_ok_and(|s| s.starts_with("enabled"));
    if !on {
        assert!(
            !in_ci(),
            "qemu-aarch64 binfmt must be enabled in CI (scripts/setup.sh)"
        );
        eprintln!("SKIP (part): qemu-aarch64 binfmt is not enabled (scripts/setup.sh enables it)");
    }
    on
}

/// `require!("podman", "skopeo");` returns from the test early (with a `SKIP:` line) when a tool
/// is missing; `require!("umoci"; Ok(()))` does the same in a test that returns a `Result`.
#[allow(unused_macros)] // test crates that never skip do not use it
macro_rules! require {
    ($($tool:expr),+ $(,)?) => {
        $crate::common::peers::require!($($tool),+ ; ())
    };
    ($($tool:expr),+ ; $ret:expr) => {{
        fn here() {}
        if !$crate::common::peers::check_tools(::std::any::type_name_of_val(&here), &[$($tool),+]) {
            return $ret;
        }
    }};
}
#[allow(unused_imports)]
pub(crate) use require;

/// `program arg1 'arg 2'`: the command line as a person would type it.
pub fn command_line(cmd: &Command) -> String {
    let mut words = vec![cmd.get_program().to_string_lossy().into_owned()];
    for arg in cmd.get_args().map(OsStr::to_string_lossy) {
        let plain = !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
        words.push(if plain {
            arg.into_owned()
        } else {
            format!("'{}'", arg.replace('\'', r"'\''"))
        });
    }
    words.join(" ")
}

/// A report of a finished command: command line, exit status, stdout and stderr.
pub fn describe(cmd: &Command, out: &Output) -> String {
    format!(
        "$ {}\nexit status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        command_line(cmd),
        out.status,
        String::from_utf8_lossy(&out.stdout).trim_end(),
        String::from_utf8_lossy(&out.stderr).trim_end()
    )
}

/// Runs `cmd` (stdin closed, output captured). A failure is printed in full on stderr, so the
/// test log shows it, and the output is returned for the test to assert on. Panics only when the
/// program cannot be started at all.
pub fn run_cmd(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot start `{}`: {e}", command_line(cmd)));
    if !out.status.success() {
        eprintln!("command failed:\n{}", describe(cmd, &out));
    }
    out
}

/// Runs `cmd` and fails, with the full report, unless it exits 0.
pub fn run_ok(cmd: &mut Command) -> Result<Output> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start `{}`", command_line(cmd)))?;
    if !out.status.success() {
        bail!("command failed:\n{}", describe(cmd, &out));
    }
    Ok(out)
}

/// Runs `cmd`, which must exit 0, and returns its stdout as text.
pub fn stdout_of(cmd: &mut Command) -> Result<String> {
    Ok(String::from_utf8_lossy(&run_ok(cmd)?.stdout).into_owned())
}

/// Runs `cmd`, which must exit 0, and parses its stdout as JSON.
pub fn json_of(cmd: &mut Command) -> Result<serde_json::Value> {
    let text = stdout_of(cmd)?;
    serde_json::from_str(&text)
        .with_context(|| format!("`{}` did not print JSON:\n{text}", command_line(cmd)))
}

/// `umoci unpack --rootless --image LAYOUT:TAG BUNDLE`: strict (checks diff_ids and the config).
/// Returns the bundle dir, holding `config.json` and `rootfs/`.
pub fn umoci_unpack(layout_dir: &Path, tag: &str) -> Result<TempDir> {
    let bundle = tempfile::Builder::new().prefix("slim-bundle-").tempdir()?;
    let image = format!("{}:{tag}", layout_dir.display());
    run_ok(
        Command::new("umoci")
            .args(["unpack", "--rootless", "--image", &image])
            .arg(bundle.path()),
    )?;
    Ok(bundle)
}

/// `oci-image-tool validate --type image DIR`: sizes, media types, digests, the `oci-layout` file
/// and every ref. (`--type imageLayout` is "unimplemented" in this tool; `image` autodetects a
/// layout directory.)
pub fn oci_image_tool_validate(layout_dir: &Path) -> Result<()> {
    run_ok(
        Command::new("oci-image-tool")
            .args(["validate", "--type", "image"])
            .arg(layout_dir),
    )?;
    Ok(())
}

/// `skopeo inspect EXTRA... REF` (e.g. `oci:DIR:TAG`, `docker://127.0.0.1:PORT/repo:tag` with
/// `--tls-verify=false`), parsed.
pub fn skopeo_inspect(transport_ref: &str, extra_args: &[&str]) -> Result<serde_json::Value> {
    json_of(
        Command::new("skopeo")
            .arg("inspect")
            .args(extra_args)
            .arg(transport_ref),
    )
}

/// `skopeo inspect --raw EXTRA... REF`: the manifest or index exactly as stored, as bytes.
pub fn skopeo_inspect_raw(transport_ref: &str, extra_args: &[&str]) -> Result<Vec<u8>> {
    Ok(run_ok(
        Command::new("skopeo")
            .args(["inspect", "--raw"])
            .args(extra_args)
            .arg(transport_ref),
    )?
    .stdout)
}

/// `skopeo inspect --config EXTRA... REF`: the image config, parsed.
pub fn skopeo_inspect_config(
    transport_ref: &str,
    extra_args: &[&str],
) -> Result<serde_json::Value> {
    json_of(
        Command::new("skopeo")
            .args(["inspect", "--config"])
            .args(extra_args)
            .arg(transport_ref),
    )
}

/// `skopeo copy EXTRA... SRC DST`, e.g. `oci:DIR:TAG` to `oci-archive:FILE:NAME:TAG`.
pub fn skopeo_copy(src: &str, dst: &str, extra_args: &[&str]) -> Result<()> {
    run_ok(
        Command::new("skopeo")
            .args(["copy", "--quiet"])
            .args(extra_args)
            .args([src, dst]),
    )?;
    Ok(())
}

/// One member of a layer, as Python's `tarfile` reads it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct TarEntry {
    pub name: String,
    /// Permission bits only (e.g. 0o755); the type is in `kind`.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: i64,
    /// `file`, `dir`, `symlink`, `hardlink`, `char`, `block`, `fifo` or `other:<typeflag>`.
    pub kind: String,
    pub size: u64,
    pub uname: String,
    pub gname: String,
    pub linkname: String,
    /// PAX extended header records, if any.
    pub pax: std::collections::BTreeMap<String, String>,
}

/// Reads a layer (gzip or plain tar) with Python's `tarfile` and lists its members. Strict where
/// `tarfile` is lenient: gzip CRC/length must check, the stream must be whole 512-byte blocks, and
/// after the last member there must be the end-of-archive trailer (at least two zero blocks) and
/// nothing but zeros. `tarfile` alone stops quietly at a missing trailer, a bad header checksum or
/// a truncated member, so those are only caught by the trailer check.
pub fn strict_tar_check(layer_path: &Path) -> Result<Vec<TarEntry>> {
    let out = run_ok(
        Command::new("python3")
            .arg("-c")
            .arg(STRICT_TAR_PY)
            .arg(layer_path),
    )
    .with_context(|| format!("strict tar check of {}", layer_path.display()))?;
    serde_json::from_slice(&out.stdout).context("strict tar check printed unexpected output")
}

const STRICT_TAR_PY: &str = r#"
import gzip, io, json, sys, tarfile
path = sys.argv[1]
raw = open(path, "rb").read()
def fail(msg):
    sys.exit(f"{path}: {msg}")
data = raw
if raw[:2] == b"\x1f\x8b":
    try:
        data = gzip.decompress(raw)  # checks every member's CRC-32 and length
    except Exception as e:
        fail(f"bad gzip stream: {e}")
if len(data) % 512:
    fail(f"tar stream is {len(data)} bytes, not a whole number of 512-byte blocks")
kinds = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.CONTTYPE: "file",
         tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink",
         tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}
entries = []
try:
    tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
    for m in tar:
        entries.append({"name": m.name, "mode": m.mode, "uid": m.uid, "gid": m.gid,
            "mtime": int(m.mtime), "kind": kinds.get(m.type, "other:" + m.type.decode(errors="replace")),
            "size": m.size, "uname": m.uname, "gname": m.gname, "linkname": m.linkname,
            "pax": {k: str(v) for k, v in m.pax_headers.items()}})
except tarfile.TarError as e:
    fail(f"not a valid tar stream: {e}")
end = tar.offset  # just past the last member's padded data
if end > len(data):
    fail(f"last member {entries[-1]['name']!r} is truncated: needs {end} bytes, stream has {len(data)}")
rest = data[end:]
if len(rest) < 1024:
    fail(f"missing end-of-archive trailer: {len(rest)} bytes after the last member at offset {end}, need two zero blocks")
if rest.count(0) != len(rest):
    bad = end + next(i for i, b in enumerate(rest) if b)
    fail(f"non-zero byte at offset {bad} after the last member (a bad header or garbage after the trailer)")
json.dump(entries, sys.stdout)
"#;

/// A one-layer image `image` (`LAYOUT:TAG`, in an existing layout): `umoci new`, `umoci unpack
/// --rootless` into `bundle`, `fill` writes files under the bundle's `rootfs`, `umoci repack`.
pub fn umoci_image(
    image: &str,
    bundle: &Path,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    run_ok(Command::new("umoci").args(["new", "--image", image]))?;
    run_ok(
        Command::new("umoci")
            .args(["unpack", "--rootless", "--image", image])
            .arg(bundle),
    )?;
    fill(&bundle.join("rootfs"))?;
    run_ok(
        Command::new("umoci")
            .args(["repack", "--image", image])
            .arg(bundle),
    )?;
    Ok(())
}

/// An OCI layout made by [`busybox_layout`], deleted with the value.
pub struct Layout {
    _dir: TempDir,
    /// The layout directory (holds `oci-layout`, `index.json`, `blobs/`).
    pub path: PathBuf,
    pub tag: String,
}

impl Layout {
    /// `oci:DIR:TAG`, for skopeo.
    pub fn oci_ref(&self) -> String {
        format!("oci:{}:{}", self.path.display(), self.tag)
    }
}

/// A known-good image made without our tool: a static busybox (Debian's busybox-static) at
/// `/bin/busybox` as the entrypoint, user 65532:65532, built with umoci. `config_args` go to
/// `umoci config` (e.g. `["--config.env", "A=b"]`).
pub fn busybox_layout(tag: &str, config_args: &[&str]) -> Result<Layout> {
    let busybox =
        which("busybox").context("busybox is not installed (apt-get install busybox-static)")?;
    let elf = cargo_slim_image::elf::inspect(&busybox)
        .with_context(|| format!("{} is not an ELF file", busybox.display()))?;
    if !elf.is_static() {
        bail!(
            "{} is dynamically linked; a scratch image needs busybox-static",
            busybox.display()
        );
    }

    let dir = tempfile::Builder::new().prefix("slim-busybox-").tempdir()?;
    let path = dir.path().join("oci");
    let bundle = dir.path().join("bundle");
    let image = format!("{}:{tag}", path.display());
    run_ok(Command::new("umoci").args(["init", "--layout"]).arg(&path))?;
    umoci_image(&image, &bundle, |rootfs| {
        let bin = rootfs.join("bin");
        std::fs::create_dir_all(&bin)?;
        std::fs::copy(&busybox, bin.join("busybox"))?; // keeps the 0755 mode
        Ok(())
    })?;
    run_ok(
        Command::new("umoci")
            .args([
                "config",
                "--image",
                &image,
                "--config.entrypoint",
                "/bin/busybox",
            ])
            .args(["--config.user", "65532:65532"])
            .args(config_args),
    )?;
    run_ok(Command::new("umoci").args(["gc", "--layout"]).arg(&path))?;
    Ok(Layout {
        _dir: dir,
        path,
        tag: tag.to_string(),
    })
}

/// True when `python3` can import every module in `modules`. Otherwise prints `SKIP: <test>: ...`
/// and returns false, or panics when `CI` is set, as [`check_tools`] does for a missing program.
pub fn check_python_modules(test: &str, modules: &[&str]) -> bool {
    if !check_tools(test, &["python3"]) {
        return false;
    }
    let Some(missing) = modules.iter().find(|m| {
        !Command::new("python3")
            .arg("-c")
            .arg(format!("import {m}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }) else {
        return true;
    };
    if in_ci() {
        panic!(
            "{test}: the Python module {missing} is not installed, and CI must run every test \
             (bash .ci/run installs it)"
        );
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIP: {test}: the Python module {missing} is not installed (bash .ci/run installs it)"
    );
    false
}
