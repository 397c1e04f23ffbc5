//! What the user configured that the tool's rustc wrapper builds on rather than replaces: their
//! own rustc wrapper (`RUSTC_WRAPPER`, `CARGO_BUILD_RUSTC_WRAPPER`, `build.rustc-wrapper`), which
//! ours runs in its place, and their C flags, after which the remap list goes to C compilers. Takes
//! the environment and the cargo config files; gives values for `prepare`.

use std::path::{Path, PathBuf};

/// The environment that gives C compilers run by build scripts (the `cc` crate) the remap list:
/// `CFLAGS_<triple>` and `CXXFLAGS_<triple>`, which apply to the target only (not to C code built
/// for the host, nor to a `./configure` that reads plain `CFLAGS`), set to `flags` followed by the
/// user's own value, the first of `X_<triple>`, `X_<triple with _>`, `TARGET_X`, `X` that is set
/// (`get` reads the environment). An older `cc` reads only that first variable, so it still sees
/// all of the user's flags; a newer one reads all four in turn, so the user's flags also come
/// before ours, and again after: either way a prefix map of theirs, coming last, wins.
pub fn c_flags_env(
    flags: &[String],
    triple: &str,
    get: &dyn Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    if flags.is_empty() {
        return Vec::new();
    }
    let under = triple.replace(['-', '.'], "_");
    ["CFLAGS", "CXXFLAGS"]
        .iter()
        .map(|var| {
            let theirs = [
                format!("{var}_{triple}"),
                format!("{var}_{under}"),
                format!("TARGET_{var}"),
                var.to_string(),
            ]
            .iter()
            .find_map(|v| get(v))
            .unwrap_or_default();
            let value = format!("{} {theirs}", flags.join(" "));
            (format!("{var}_{triple}"), value.trim().to_string())
        })
        .collect()
}

/// The rustc wrapper the user set, which ours runs in its place: `RUSTC_WRAPPER`, else
/// `CARGO_BUILD_RUSTC_WRAPPER`, else `build.rustc-wrapper` of the cargo config files (a value with
/// a `/` is relative to the directory holding `.cargo`). Empty means none, as for cargo.
pub fn user_rustc_wrapper() -> Option<PathBuf> {
    for var in ["RUSTC_WRAPPER", "CARGO_BUILD_RUSTC_WRAPPER"] {
        if let Some(v) = std::env::var_os(var) {
            return (!v.is_empty()).then(|| PathBuf::from(v));
        }
    }
    for file in super::user_config::cargo_config_files() {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        if let Some(v) = config_string(&text, "build.rustc-wrapper") {
            if v.is_empty() {
                return None;
            }
            let base = file
                .parent()
                .and_then(Path::parent)
                .unwrap_or(Path::new("/"));
            return Some(if v.contains('/') {
                base.join(v)
            } else {
                PathBuf::from(v)
            });
        }
    }
    None
}

/// The string value of dotted `key` in a cargo config file's text, read as TOML as cargo reads it
/// (table headers, dotted keys and inline tables alike); `None` when unset or not TOML.
pub fn config_string(text: &str, key: &str) -> Option<String> {
    let table: toml::Table = text.parse().ok()?;
    let mut parts = key.split('.');
    let mut value = table.get(parts.next()?)?;
    for part in parts {
        value = value.get(part)?;
    }
    value.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_flags_go_in_front_of_the_users_first_cflags() {
        let flags = ["-ffile-prefix-map=/w=/workspace".to_string()];
        let t = "x86_64-unknown-linux-musl";
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let got = c_flags_env(
            &flags,
            t,
            &env(&[("CFLAGS", "-O1"), ("TARGET_CFLAGS", "-g")]),
        );
        assert_eq!(
            got,
            [
                (format!("CFLAGS_{t}"), format!("{} -g", flags[0])),
                (format!("CXXFLAGS_{t}"), flags[0].clone())
            ]
        );
        let got = c_flags_env(
            &flags,
            t,
            &env(&[("CXXFLAGS_x86_64_unknown_linux_musl", "-x")]),
        );
        assert_eq!(got[1].1, format!("{} -x", flags[0]));
        assert_eq!(c_flags_env(&[], t, &env(&[])), Vec::new());
    }

    #[test]
    fn rustc_wrapper_from_config_text() {
        let t = "[build]\n# rustc-wrapper = \"no\"\nrustc-wrapper = \"sccache\" # cache\n";
        assert_eq!(
            config_string(t, "build.rustc-wrapper").as_deref(),
            Some("sccache")
        );
        let t = "build.rustc-wrapper = '/opt/w'\n[target.x]\njobs = 2\n";
        assert_eq!(
            config_string(t, "build.rustc-wrapper").as_deref(),
            Some("/opt/w")
        );
        assert_eq!(
            config_string("[target.x]\nrustc-wrapper = \"a\"\n", "build.rustc-wrapper"),
            None
        );
        // Inline tables: cargo reads these too, and ours must not drop the user's wrapper.
        let t = "build = { jobs = 2, rustc-wrapper = \"/opt/sccache\" }\n";
        assert_eq!(
            config_string(t, "build.rustc-wrapper").as_deref(),
            Some("/opt/sccache")
        );
        assert_eq!(
            config_string(
                "[build]\nx = { rustc-wrapper = 'no' }\n",
                "build.rustc-wrapper"
            ),
            None
        );
        assert_eq!(
            config_string("[build]\nrustc-wrapper = \"\"\n", "build.rustc-wrapper").as_deref(),
            Some("")
        );
    }
}
