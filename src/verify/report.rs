//! What `verify` says: the `Reproduced IMAGE@sha256:...` line on stdout, the mismatch message (the
//! error on stderr), and the JSON document of `--message-format json` with the same facts.

use super::compare::{FieldDiff, Outcome, PlatformOutcome, MAX_FIELDS, NO_PLATFORM};
use super::files::{self, LayerFinding};
use serde_json::{json, Value};
use std::fmt::Write as _;

/// The stdout line of a reproduced image: its root digest (what IMAGE names), and nothing else.
pub fn reproduced_lines(o: &Outcome) -> String {
    format!("Reproduced {}@{}\n", o.image, o.digest)
}

/// A JSON value as one short line of text (`(absent)` when there is none).
fn value(v: &Option<Value>) -> String {
    let s = match v {
        None => return "(absent)".to_string(),
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
    };
    if s.chars().count() > 200 {
        format!(
            "{}... ({} characters)",
            s.chars().take(200).collect::<String>(),
            s.len()
        )
    } else {
        s
    }
}

/// The differing fields of one document, under a `{title} differs` line indented by `ind`.
fn fields(s: &mut String, ind: &str, title: &str, diffs: &[FieldDiff]) {
    if diffs.is_empty() {
        return;
    }
    let _ = writeln!(s, "{ind}{title} differs (image -> rebuild):");
    for d in diffs.iter().take(MAX_FIELDS) {
        let (a, b) = (value(&d.image), value(&d.rebuild));
        let _ = writeln!(s, "{ind}  {}: {a} -> {b}", d.path);
    }
    if diffs.len() > MAX_FIELDS {
        let more = diffs.len() - MAX_FIELDS;
        let _ = writeln!(s, "{ind}  ... and {more} more field(s)");
    }
}

fn platform_text(s: &mut String, p: &PlatformOutcome, several: bool) {
    let (at, ind) = if several {
        (format!("{}: ", p.platform), "    ")
    } else {
        (String::new(), "  ")
    };
    match (&p.image, &p.rebuild) {
        (None, _) => {
            let _ = writeln!(
                s,
                "  {at}the image has no {} manifest; the rebuild does",
                p.platform
            );
            return;
        }
        (Some(a), None) if p.duplicate => {
            let _ = writeln!(
                s,
                "  {at}another {} manifest {a}, not rebuilt (the rebuild made one {0} manifest)",
                p.platform
            );
            return;
        }
        (Some(a), None) if p.platform == NO_PLATFORM || p.platform.starts_with("unknown/") => {
            let _ = writeln!(
                s,
                "  {at}not rebuilt: {a} is an entry the rebuild has no counterpart for (an \
                 attestation or artifact is part of the index, and of its digest, too)"
            );
            return;
        }
        (_, None) => {
            let _ = writeln!(
                s,
                "  {at}not rebuilt (these flags do not build {0}; add --platform {0} to check it)",
                p.platform
            );
            return;
        }
        (Some(a), Some(b)) if a == b => {
            let _ = writeln!(s, "  {at}manifest {a} reproduced");
            return;
        }
        (Some(a), Some(b)) => {
            let _ = writeln!(s, "  {at}manifest {a} vs rebuilt {b}");
        }
    }
    fields(s, ind, "manifest", &p.manifest);
    fields(s, ind, "config", &p.config);
    if let Some(l) = &p.layer {
        let digest = |d: &Option<crate::blob::Descriptor>| {
            d.as_ref()
                .map_or("none".to_string(), |d| d.digest.to_string())
        };
        let head = format!(
            "{ind}layer {} of {} ({} vs rebuilt {})",
            l.number,
            l.count,
            digest(&l.image),
            digest(&l.rebuild)
        );
        let _ = match &l.finding {
            Some(LayerFinding::File(f)) => {
                let more = if f.others > 0 {
                    format!(
                        " (and {} other entr{} differ)",
                        f.others,
                        if f.others == 1 { "y" } else { "ies" }
                    )
                } else {
                    String::new()
                };
                writeln!(s, "{head}: {}{more}", files::describe(f))
            }
            Some(LayerFinding::Other(why)) => writeln!(s, "{head}: {why}"),
            None if l.image.is_none() => writeln!(s, "{head}: the rebuild has more layers"),
            None => writeln!(s, "{head}: the image has more layers"),
        };
    }
}

/// The mismatch message: the first line, then the platforms, fields, layer and file that differ.
pub fn mismatch_text(o: &Outcome) -> String {
    let mut s = format!(
        "{}@{} does not match the rebuild {}\n",
        o.image, o.digest, o.rebuild
    );
    let several = o.platforms.len() > 1;
    // Every rebuilt platform, then at most MAX_FIELDS of the image's other entries (an index of
    // 4 MiB can list tens of thousands): the rest are counted.
    let (built, unbuilt): (Vec<_>, Vec<_>) = o.platforms.iter().partition(|p| p.rebuild.is_some());
    for p in built.iter().chain(unbuilt.iter().take(MAX_FIELDS)) {
        platform_text(&mut s, p, several);
    }
    if unbuilt.len() > MAX_FIELDS {
        let _ = writeln!(
            s,
            "  ... and {} more entries of the image, not rebuilt",
            unbuilt.len() - MAX_FIELDS
        );
    }
    fields(&mut s, "  ", "index", &o.index);
    let rebuilt_all = o
        .platforms
        .iter()
        .all(|p| p.reproduced() || p.rebuild.is_none());
    if o.image_is_index && !o.rebuild_is_index && rebuilt_all {
        let _ = writeln!(
            s,
            "  the image is an index; these flags build the single manifest {}, not an index: \
             IMAGE is reproduced only as a whole (to check one platform of a registry image, \
             name its manifest by digest: REGISTRY/NAME@sha256:...)",
            o.rebuild
        );
    }
    s.push_str(
        "note: a digest changes with the sources, Cargo.lock, the flags and metadata, the Rust \
         toolchain and the cargo-slim-image version (and SOURCE_DATE_EPOCH); rebuild with the \
         flags the image was made with",
    );
    s
}

/// The `--message-format json` document.
pub fn json(o: &Outcome) -> Value {
    json!({
        "tool": format!("cargo-slim-image {}", env!("CARGO_PKG_VERSION")),
        "command": "verify",
        "image": o.image,
        "reproduced": o.reproduced(),
        "digest": o.digest,
        "rebuild": o.rebuild,
        "platforms": o.platforms.iter().map(|p| {
            let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
            v["reproduced"] = Value::Bool(p.reproduced());
            if let (Some(l), Some(m)) = (&p.layer, v.get_mut("layer")) {
                if let Some(LayerFinding::File(f)) = &l.finding {
                    m["summary"] = Value::String(files::describe(f));
                }
            }
            v
        }).collect::<Vec<_>>(),
        "index": o.index,
    })
}
