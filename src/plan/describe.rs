//! The plan as text, for `--dry-run` ([`Plan::describe`]): the cargo commands the build runs, each
//! platform's C toolchain, and every image with its sinks, spelt as the flags spell them.

use super::{ca_name, compression_name, sbom_name, ImageSpec, Plan, BIN_DIR};
use serde_json::Value;
use std::fmt::Write as _;

impl Plan {
    /// The plan as text, for `--dry-run`.
    pub fn describe(&self) -> String {
        let mut s = self.describe_cargo();
        for img in &self.images {
            s.push_str(&self.describe_image(img));
        }
        s
    }

    /// The cargo commands and each platform's C toolchain, for [`Plan::describe`].
    fn describe_cargo(&self) -> String {
        let mut s = String::new();
        if let Some(c) = &self.cargo {
            for line in crate::compile::command_lines(&self.build_requests()) {
                let _ = writeln!(s, "{line}");
            }
            if c.toolchains.is_empty() {
                let _ = writeln!(
                    s,
                    "  c toolchain {}: decided when building (no Cargo.lock yet)",
                    c.c_toolchain.name()
                );
            }
            for d in &c.toolchains {
                let _ = writeln!(
                    s,
                    "  {}: c toolchain {}{}",
                    d.platform,
                    d.toolchain.name(),
                    toolchain_why(d)
                );
            }
        }
        s
    }

    /// One image of the plan, for [`Plan::describe`].
    fn describe_image(&self, img: &ImageSpec) -> String {
        let mut s = describe_contents(img);
        self.describe_outputs(&mut s, img);
        s
    }

    /// Where `img` goes and how (layout, tarball, load, push, layers, SBOM, provenance, ...), for
    /// [`Plan::describe`].
    fn describe_outputs(&self, s: &mut String, img: &ImageSpec) {
        let _ = writeln!(s, "  layout:     {}", img.layout.display());
        if let Some(t) = &img.tarball {
            let _ = writeln!(
                s,
                "  tarball:    {} ({} archive)",
                t.display(),
                self.tarball_format.name()
            );
        }
        if self.load {
            let _ = writeln!(s, "  load:       podman or docker");
        }
        for r in &img.push {
            let _ = writeln!(s, "  push:       {r}");
        }
        let _ = writeln!(s, "  layers:     {}", compression_name(self.compression));
        if let Some(f) = img.sbom {
            let _ = writeln!(s, "  sbom:       {}", sbom_name(f));
        }
        if img.provenance != crate::provenance::choice::Choice::None {
            let _ = writeln!(s, "  provenance: {}", img.provenance.as_str());
        }
        if self.cargo.is_some() && !img.embed_dependencies {
            let _ = writeln!(s, "  deps:       not embedded in the binaries");
        }
        if img.timezones {
            let _ = writeln!(
                s,
                "  timezones:  {} (IANA tzdata {}, {} names, a layer of its own)",
                crate::layer::zoneinfo::DIR,
                crate::layer::zoneinfo::VERSION,
                crate::layer::zoneinfo::zones().len()
            );
        }
        if let Some(b) = img.size_budget {
            let _ = writeln!(s, "  budget:     {}", crate::units::human_size(b));
        }
    }
}

/// What `img` is (its name and tags, platforms, binaries, files, base, entrypoint, cmd, user,
/// workdir, CA), for [`Plan::describe`].
fn describe_contents(img: &ImageSpec) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "image {}:{}", img.name, img.tags.join(","));
    let plats: Vec<String> = img
        .platforms
        .iter()
        .map(|p| format!("{p} ({})", p.rust_target()))
        .collect();
    let default = if img.default_platform {
        " (the default: --platform or `platforms` for others)"
    } else {
        ""
    };
    let _ = writeln!(s, "  platforms:  {}{default}", plats.join(", "));
    for b in &img.binaries {
        let from = match (&b.prebuilt, &b.package) {
            (Some(p), _) => format!("prebuilt {}", p.display()),
            (None, Some(pkg)) => format!("package {pkg}"),
            (None, None) => String::new(),
        };
        let _ = writeln!(s, "  binary:     {BIN_DIR}/{} ({from})", b.name);
    }
    for f in &img.files {
        let _ = writeln!(
            s,
            "  file:       {} <- {} ({:o})",
            f.dest,
            f.src.display(),
            f.mode
        );
    }
    let _ = writeln!(s, "  base:       {}", img.base);
    let _ = writeln!(s, "  entrypoint: {}", words(&img.entrypoint));
    if let Some(c) = &img.cmd {
        let _ = writeln!(s, "  cmd:        {}", words(c));
    }
    let _ = writeln!(s, "  user:       {}  workdir: {}", img.user, img.workdir);
    let _ = writeln!(
        s,
        "  ca:         {} + {} extra file(s)",
        ca_name(&img.ca.source),
        img.ca.extra.len()
    );
    s
}

/// A list of words as a JSON array, `["/usr/local/bin/app", "--port", "80"]`.
fn words(w: &[String]) -> String {
    let quoted: Vec<String> = w
        .iter()
        .map(|x| Value::from(x.as_str()).to_string())
        .collect();
    format!("[{}]", quoted.join(", "))
}

/// Why a platform got its C toolchain, for [`Plan::describe`].
fn toolchain_why(d: &crate::compile::c_toolchain::Decision) -> String {
    use crate::compile::c_toolchain::Choice;
    let crates = if d.c_crates.is_empty() {
        "no crate uses `cc`".to_string()
    } else {
        format!("C code in {}", d.c_crates.join(", "))
    };
    match d.choice {
        Choice::Auto => format!(" ({crates})"),
        c => format!(" (c-toolchain {}; {crates})", c.name()),
    }
}
