//! Configuration: `[workspace.metadata.slim-image]` and `[package.metadata.slim-image]` -> [`Meta`].
//!
//! Raw tables are parsed here and nowhere else, with unknown keys rejected by name (and the Cargo.toml
//! they are in). Relative paths are made absolute against the Cargo.toml that wrote them, then the
//! package table is laid over the workspace table: scalar and list keys replace, map keys (`env`,
//! `labels`, `annotations`) merge with the package winning. `plan` lays the command line over that.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub mod check;
pub mod quote;

/// A string or a list of strings (`entrypoint = "app --x"` or `entrypoint = ["app", "--x"]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum StrOrList {
    /// Split on whitespace.
    Str(String),
    /// Taken as is.
    List(Vec<String>),
}

impl StrOrList {
    /// As a list of arguments.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            StrOrList::Str(s) => s.split_whitespace().map(str::to_string).collect(),
            StrOrList::List(l) => l.clone(),
        }
    }
}

/// A port: `8080`, `"8080"`, `"8080/tcp"`, `"53/udp"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum RawPort {
    /// A bare number (tcp).
    Num(u16),
    /// `port[/proto]`.
    Str(String),
}

impl RawPort {
    /// Normalised `port/proto`.
    pub fn normalize(&self) -> Result<String> {
        let s = match self {
            RawPort::Num(0) => {
                bail!("port 0 is not valid: write a port from 1 to 65535, e.g. 8080")
            }
            RawPort::Num(n) => return Ok(format!("{n}/tcp")),
            RawPort::Str(s) => s.trim(),
        };
        let (port, proto) = s.split_once('/').unwrap_or((s, "tcp"));
        let proto = proto.to_ascii_lowercase();
        if port.parse::<u16>().map(|p| p == 0).unwrap_or(true)
            || !["tcp", "udp", "sctp"].contains(&proto.as_str())
        {
            bail!("port `{s}` is not valid: write it as 8080, \"8080/tcp\" or \"53/udp\"");
        }
        Ok(format!("{port}/{proto}"))
    }
}

/// An extra file to put in the image.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RawFile {
    /// Source path, relative to the Cargo.toml that lists it.
    pub src: PathBuf,
    /// Absolute destination path in the image.
    pub dest: String,
    /// Octal mode as a string ("0644") or a TOML integer (0o644); default 0644.
    #[serde(default)]
    pub mode: Option<RawMode>,
}

/// A file mode: `"0755"` or `0o755`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum RawMode {
    /// TOML integer (write it as 0o755 in TOML).
    Num(u32),
    /// Octal digits.
    Str(String),
}

impl RawMode {
    /// The permission bits.
    pub fn bits(&self) -> Result<u32> {
        let m = match self {
            RawMode::Num(n) => *n,
            RawMode::Str(s) => {
                u32::from_str_radix(s.trim_start_matches("0o"), 8).with_context(|| {
                    format!("mode `{s}` is not octal: write it like \"0644\" or \"0755\"")
                })?
            }
        };
        if m > 0o7777 {
            bail!("mode {m:o} is not a permission mode: write it like \"0644\" or \"0755\"");
        }
        Ok(m)
    }
}

/// One `[*.metadata.slim-image]` table, as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Meta {
    /// Image name (repository), e.g. `ghcr.io/acme/app`; default: the binary's (or package's) name.
    #[serde(alias = "repository")]
    pub name: Option<String>,
    /// Tags; default: the package version and `latest`.
    pub tags: Option<Vec<String>>,
    /// Registry and path put in front of an image name without a registry, e.g. `ghcr.io/acme`
    /// (`SLIM_IMAGE_REPO` / `--repository-prefix` override it).
    pub repository_prefix: Option<String>,
    /// Binaries that go together into one image (default: one image per binary target).
    pub binaries: Option<Vec<String>>,
    /// Entrypoint; default: `/usr/local/bin/<first binary>`.
    pub entrypoint: Option<StrOrList>,
    /// Default arguments.
    pub cmd: Option<StrOrList>,
    /// Environment variables.
    pub env: Option<BTreeMap<String, String>>,
    /// Working directory.
    pub workdir: Option<String>,
    /// `uid[:gid]`; default 65532:65532.
    pub user: Option<String>,
    /// Exposed ports.
    pub ports: Option<Vec<RawPort>>,
    /// Config labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// Manifest annotations.
    pub annotations: Option<BTreeMap<String, String>>,
    /// Extra files.
    pub files: Option<Vec<RawFile>>,
    /// `mozilla` (default), `host` or `none`.
    pub ca_certificates: Option<String>,
    /// Extra PEM files appended to the bundle (private CAs).
    pub extra_ca_certificates: Option<Vec<PathBuf>>,
    /// Stop signal, e.g. `SIGINT`.
    pub stop_signal: Option<String>,
    /// Platforms, e.g. `["linux/amd64", "linux/arm64"]`.
    pub platforms: Option<Vec<String>>,
    /// Base image: `scratch` (default), `alpine[:TAG]`, a registry reference, `oci:DIR[:TAG]`,
    /// `oci-archive:FILE`, `docker-archive:FILE`.
    pub base: Option<String>,
    /// SBOM format: `spdx` (default), `cyclonedx`, or `none`.
    pub sbom: Option<String>,
    /// Build provenance: `slsa` (default) or `none`.
    pub provenance: Option<String>,
    /// Fail when the compressed image is over this size, e.g. `"2 MiB"`.
    pub size_budget: Option<String>,
    /// `"min-size"`: build with the size-optimised settings of `--min-size`.
    pub profile: Option<String>,
    /// The C toolchain for crates with C code: `auto` (default), `musl-gcc`, `zig`, `rust-lld`.
    pub c_toolchain: Option<String>,
    /// Who provides OpenSSL to openssl-sys: `auto` (default: built for the target and cached) or
    /// `system` (openssl-sys finds it, e.g. from `OPENSSL_DIR`).
    pub openssl: Option<String>,
    /// Embed the dependency list in the binaries (`.dep-v0`); default true.
    pub embed_dependencies: Option<bool>,
    /// What to do with the binaries' DWARF: `split` (default), `keep` or `drop`.
    pub debuginfo: Option<String>,
    /// Add the IANA time zone files under /usr/share/zoneinfo, in a layer of their own; default false.
    pub timezones: Option<bool>,
    /// Note a multi-threaded binary on musl's malloc (suggesting a global allocator); default true.
    pub allocator_check: Option<bool>,
    /// The Cargo.toml whose table gave `files` (for errors found once the binaries are known).
    #[serde(skip)]
    pub files_from: Option<PathBuf>,
}

/// Parse the `slim-image` key of a metadata value (package or workspace), if present.
/// `table` names the table in errors, `manifest` the Cargo.toml it came from.
pub fn parse_meta(metadata: &Value, table: &str, manifest: &Path) -> Result<Option<Meta>> {
    warn_misspelt(metadata, table, manifest);
    let Some(raw) = metadata.get("slim-image") else {
        return Ok(None);
    };
    if !raw.is_object() {
        bail!(
            "[{table}] in {} must be a table (write `[{table}]` followed by keys)",
            manifest.display()
        );
    }
    let mut meta: Meta = serde_path_to_error::deserialize(raw.clone()).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let at = if path == "." { String::new() } else { format!(" at key `{path}`") };
        anyhow::anyhow!(
            "invalid [{table}] in {}{at}: {inner}. See the README's \"Configuration\" section for the keys and their types.",
            manifest.display()
        )
    })?;
    check_values(&mut meta, table, manifest)?;
    let base = manifest.parent().unwrap_or(Path::new("."));
    if let Some(files) = &mut meta.files {
        for f in files {
            f.src = base.join(&f.src);
        }
    }
    if let Some(extra) = &mut meta.extra_ca_certificates {
        for p in extra {
            *p = base.join(&*p);
        }
    }
    // A local base (`oci:DIR`, `oci-archive:FILE`, `docker-archive:FILE`) is relative to the Cargo.toml.
    if let Some(b) = &mut meta.base {
        for kind in ["oci:", "oci-archive:", "docker-archive:"] {
            if let Some(rest) = b.strip_prefix(kind).filter(|r| !r.starts_with('/')) {
                *b = format!("{kind}{}", base.join(rest).display());
                break;
            }
        }
    }
    Ok(Some(meta))
}

/// Warn about a `slim-image` table spelt another way (`slim_image`, `slim-images`, `SlimImage`...):
/// cargo keeps any `metadata` table without a word, so it would be ignored in silence.
fn warn_misspelt(metadata: &Value, table: &str, manifest: &Path) {
    let Some(obj) = metadata.as_object() else {
        return;
    };
    let right = table.rsplit_once('.').map_or("", |(t, _)| t);
    // Once per run: `resolve` reads the workspace once per image it plans (and twice for a package).
    static SAID: std::sync::Mutex<std::collections::BTreeSet<String>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    for key in obj.keys() {
        if check::near_slim_image(key) {
            let msg = format!(
                "[{right}.{}] in {} is not read: the table is spelt [{table}]",
                check::shown(key),
                manifest.display()
            );
            let new = SAID
                .lock()
                .map_or(true, |mut said| said.insert(msg.clone()));
            if new {
                crate::ui::warn(msg);
            }
        }
    }
}

/// The error for a bad value at `key` of `table` in `manifest`.
fn bad_value(table: &str, manifest: &Path, key: &str, why: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "invalid [{table}] in {} at key `{key}`: {why}",
        manifest.display()
    )
}

/// The checks of single values ([`check`]) over one table, as written; `stop-signal` is normalised.
fn check_values(meta: &mut Meta, table: &str, manifest: &Path) -> Result<()> {
    let bad = |key: &str, why: String| bad_value(table, manifest, key, &why);
    if let Some(u) = &meta.user {
        check::user(u).map_err(|why| bad("user", why))?;
    }
    if let Some(s) = &mut meta.stop_signal {
        *s = check::signal(s).map_err(|why| bad("stop-signal", why))?;
    }
    for (k, v) in meta.env.iter().flatten() {
        check::env_key(k).map_err(|why| bad("env", why))?;
        check::no_nul(v).map_err(|why| bad(&format!("env.{}", check::shown(k)), why))?;
    }
    for (key, args) in [("entrypoint", &meta.entrypoint), ("cmd", &meta.cmd)] {
        for a in args.iter().flat_map(StrOrList::to_vec) {
            check::no_nul(&a).map_err(|why| bad(key, why))?;
        }
    }
    if let Some(c) = &meta.c_toolchain {
        check::c_toolchain(c).map_err(|why| bad("c-toolchain", why))?;
    }
    if let Some(d) = &meta.debuginfo {
        check::debuginfo(d).map_err(|why| bad("debuginfo", why))?;
    }
    if let Some(o) = &meta.openssl {
        crate::compile::c_libs::OpensslChoice::parse(o).map_err(|why| bad("openssl", why))?;
    }
    if let Some(w) = &meta.workdir {
        check::no_nul(w).map_err(|why| bad("workdir", why))?;
    }
    for (key, map) in [("labels", &meta.labels), ("annotations", &meta.annotations)] {
        for k in map.iter().flatten().map(|(k, _)| k) {
            check::map_key(k).map_err(|why| bad(key, why))?;
        }
    }
    let files = meta.files.as_deref().unwrap_or_default();
    for (i, f) in files.iter().enumerate() {
        let key = format!("files[{i}].dest");
        check::dest(&f.dest)
            .map_err(|why| bad(&key, format!("`{}` {why}", check::shown(&f.dest))))?;
        for (j, g) in files[..i].iter().enumerate() {
            let (deep, other) = if f.dest.len() >= g.dest.len() {
                (f, g)
            } else {
                (g, f)
            };
            if check::at_or_below(&deep.dest, &other.dest) {
                let why = if f.dest == g.dest {
                    format!("`{}` is also files[{j}].dest", check::shown(&f.dest))
                } else {
                    format!(
                        "`{}` lies below `{}`, which is a file (files[{j}].dest and files[{i}].dest)",
                        check::shown(&deep.dest),
                        check::shown(&other.dest)
                    )
                };
                bail!(bad(
                    &key,
                    format!("{why}: each file needs a path of its own")
                ));
            }
        }
    }
    if meta.files.is_some() {
        meta.files_from = Some(manifest.to_path_buf());
    }
    Ok(())
}

fn merge_map(
    under: Option<BTreeMap<String, String>>,
    over: Option<BTreeMap<String, String>>,
) -> Option<BTreeMap<String, String>> {
    match (under, over) {
        (Some(mut u), Some(o)) => {
            u.extend(o);
            Some(u)
        }
        (u, o) => o.or(u),
    }
}

impl Meta {
    /// Lay `over` (the package table) on top of `self` (the workspace table).
    pub fn overlay(self, over: Meta) -> Meta {
        Meta {
            name: over.name.or(self.name),
            tags: over.tags.or(self.tags),
            repository_prefix: over.repository_prefix.or(self.repository_prefix),
            binaries: over.binaries.or(self.binaries),
            entrypoint: over.entrypoint.or(self.entrypoint),
            cmd: over.cmd.or(self.cmd),
            env: merge_map(self.env, over.env),
            workdir: over.workdir.or(self.workdir),
            user: over.user.or(self.user),
            ports: over.ports.or(self.ports),
            labels: merge_map(self.labels, over.labels),
            annotations: merge_map(self.annotations, over.annotations),
            files: over.files.or(self.files),
            ca_certificates: over.ca_certificates.or(self.ca_certificates),
            extra_ca_certificates: over.extra_ca_certificates.or(self.extra_ca_certificates),
            stop_signal: over.stop_signal.or(self.stop_signal),
            platforms: over.platforms.or(self.platforms),
            base: over.base.or(self.base),
            sbom: over.sbom.or(self.sbom),
            provenance: over.provenance.or(self.provenance),
            size_budget: over.size_budget.or(self.size_budget),
            profile: over.profile.or(self.profile),
            c_toolchain: over.c_toolchain.or(self.c_toolchain),
            openssl: over.openssl.or(self.openssl),
            embed_dependencies: over.embed_dependencies.or(self.embed_dependencies),
            debuginfo: over.debuginfo.or(self.debuginfo),
            timezones: over.timezones.or(self.timezones),
            allocator_check: over.allocator_check.or(self.allocator_check),
            files_from: over.files_from.or(self.files_from),
        }
    }
}

/// Split `K=V` (for --env, --label, --annotation); `flag` names the flag in errors.
pub fn parse_kv(s: &str, flag: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        // --env names are checked as env names (no `=` can be in them here: the split is at the first).
        Some((k, v)) => match if flag == "--env" {
            check::env_key(k)
        } else {
            check::map_key(k)
        } {
            Ok(()) => Ok((k.to_string(), v.to_string())),
            Err(why) => bail!("{flag} `{}`: {why}", check::shown(s)),
        },
        None => bail!("{flag} `{}` must look like KEY=VALUE", check::shown(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Option<Meta>> {
        parse_meta(
            &json!({ "slim-image": v }),
            "package.metadata.slim-image",
            Path::new("/w/app/Cargo.toml"),
        )
    }

    #[test]
    fn unknown_key_is_named_with_the_file() {
        let err = parse(json!({"nmae": "x"})).unwrap_err().to_string();
        assert!(err.contains("nmae"), "{err}");
        assert!(err.contains("/w/app/Cargo.toml"), "{err}");
        assert!(err.contains("package.metadata.slim-image"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = parse(json!({"tags": [1]})).unwrap_err().to_string();
        assert!(err.contains("tags[0]"), "{err}");
    }

    #[test]
    fn paths_are_relative_to_the_manifest_and_maps_merge() {
        let ws = parse_meta(
            &json!({"slim-image": {"labels": {"a": "1", "b": "1"}, "user": "1000", "extra-ca-certificates": ["ca.pem"]}}),
            "workspace.metadata.slim-image",
            Path::new("/w/Cargo.toml"),
        )
        .unwrap()
        .unwrap();
        let pkg = parse(json!({"labels": {"b": "2"}, "files": [{"src": "conf/x.toml", "dest": "/etc/x.toml", "mode": "0600"}]}))
            .unwrap()
            .unwrap();
        let m = ws.overlay(pkg);
        assert_eq!(
            m.labels.unwrap(),
            BTreeMap::from([("a".into(), "1".into()), ("b".into(), "2".into())])
        );
        assert_eq!(m.user.as_deref(), Some("1000"));
        let f = &m.files.unwrap()[0];
        assert_eq!(f.src, Path::new("/w/app/conf/x.toml"));
        assert_eq!(f.mode.as_ref().unwrap().bits().unwrap(), 0o600);
        assert_eq!(m.extra_ca_certificates.unwrap()[0], Path::new("/w/ca.pem"));
    }

    #[test]
    fn ports_and_modes() {
        assert_eq!(RawPort::Num(80).normalize().unwrap(), "80/tcp");
        assert_eq!(RawPort::Str("53/UDP".into()).normalize().unwrap(), "53/udp");
        assert!(RawPort::Str("http".into()).normalize().is_err());
        assert!(RawMode::Str("9999".into()).bits().is_err());
        assert_eq!(StrOrList::Str("a  b".into()).to_vec(), ["a", "b"]);
    }
}
