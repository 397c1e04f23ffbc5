//! The C compiler, archiver and ranlib that build OpenSSL for one platform: the platform's own C
//! toolchain (musl-gcc natively, zig across architectures, through small wrapper scripts).
//!
//! Takes the platform's [`Decision`]; gives a [`Compiler`]: its name and version (part of the
//! cache key), the wrapper scripts to write and the `CC_<triple>`-style environment.

use crate::compile::types::{Decision, Toolchain};
use anyhow::{bail, Context, Result};

/// Stands for the build's temp directory in a wrapper script (replaced, shell-quoted, when written).
pub(super) const STAGE: &str = "@STAGE@";

/// The C compiler, archiver and ranlib for `d`, as (name for messages, its version for the key,
/// wrapper scripts to write: (file name, script), environment for the build).
pub(super) struct Compiler {
    pub(super) name: String,
    pub(super) id: String,
    pub(super) scripts: Vec<(String, String)>,
    pub(super) env: Vec<(String, String)>,
}

/// The [`Compiler`] for `d`'s C toolchain: musl-gcc, or zig through wrapper scripts; another
/// toolchain is an error that says what to do instead.
pub(super) fn compiler(d: &Decision) -> Result<Compiler> {
    let triple = d.platform.rust_target();
    let key = triple.replace('-', "_");
    let tools = |cc: &str, ar: &str, ranlib: &str| {
        vec![
            (format!("CC_{key}"), cc.to_string()),
            (format!("AR_{key}"), ar.to_string()),
            (format!("RANLIB_{key}"), ranlib.to_string()),
        ]
    };
    match &d.toolchain {
        Toolchain::MuslGcc => Ok(Compiler {
            name: "musl-gcc".into(),
            id: crate::compile::c_toolchain::tools(d)
                .c_version
                .unwrap_or_else(|| "musl-gcc".into()),
            scripts: Vec::new(),
            env: tools("musl-gcc", "ar", "ranlib"),
        }),
        Toolchain::Zig => {
            let zigbuild = crate::compile::toolchain::find_program("cargo-zigbuild")
                .with_context(|| {
                    format!(
                        "cargo-zigbuild is needed to compile OpenSSL with zig: install it with {}",
                        crate::host::Host::current().install_hint(crate::host::Tool::Zigbuild)
                    )
                })?;
            let zt = format!("{}-linux-musl", d.platform.rust_target().split('-').next().unwrap_or(""));
            let run = |what: &str, before: &str, after: &str| {
                format!(
                    "#!/bin/sh\nexec '{}' zig {what} -- {before}\"$@\"{after}\n",
                    zigbuild.display().to_string().replace('\'', r"'\''")
                )
            };
            // zig cc writes debug info by default, with the build directory as DW_AT_comp_dir:
            // none (as musl-gcc in a release build script), and any path of the build directory
            // mapped away. Here, not in CFLAGS, which OpenSSL records in libcrypto.
            let cc_after = format!(" -g0 -ffile-prefix-map={STAGE}=/openssl");
            // Bare names, found on PATH: the compiler's name is part of OpenSSL's recorded flags.
            let (cc, ar, ranlib) = (
                format!("slim-zig-cc-{zt}"),
                "slim-zig-ar".to_string(),
                "slim-zig-ranlib".to_string(),
            );
            Ok(Compiler {
                name: "zig".into(),
                id: crate::compile::c_toolchain::tools(d)
                    .c_version
                    .unwrap_or_else(|| "zig".into()),
                scripts: vec![
                    (cc.clone(), run("cc", &format!("-target {zt} "), &cc_after)),
                    (ar.clone(), run("ar", "", "")),
                    (ranlib.clone(), run("ranlib", "", "")),
                ],
                env: tools(&cc, &ar, &ranlib),
            })
        }
        other => bail!(
            "openssl-sys needs OpenSSL for {}, and cargo slim-image builds it with musl-gcc or zig, but this build's C toolchain is `{}`: set OPENSSL_DIR (or {}_OPENSSL_DIR) to an OpenSSL built for {triple} with OPENSSL_STATIC=1, or turn on openssl's `vendored` feature",
            d.platform,
            other.name(),
            key.to_ascii_uppercase()
        ),
    }
}
