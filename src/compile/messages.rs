//! cargo's `--message-format=json` stream: the bins it built, each with its platform.
//!
//! Takes the stream one line at a time (lines that are not cargo messages, a wrapper's chatter, are
//! given back to show); gives the [`BuiltBinary`] list, sorted. A build of several targets (`cargo
//! build --target A --target B`) reports each target's bins at `<target-dir>/<triple>/<profile>/`,
//! so the triple in the path says whose a bin is: paths are read from cargo, never guessed.
//!
//! Parsed by hand into the four fields used, not with `cargo_metadata::Message::parse_stream`
//! (0.23.1, whose `Metadata` types `sbom::deps`, `compile::depdata` and `compile::remap` read).
//! Measured on this module's test stream (src/compile/tests.rs) and two more lines: its `Artifact`
//! requires `profile` and `features` (and `target.src_path`), which nothing here reads, so all six
//! `compiler-artifact` lines of that stream came back as `TextLine` (no bin found,
//! `parses_bins_from_the_message_stream` fails); a message with a `reason` it does not know (a
//! newer cargo's) is a `TextLine` too, which would be printed as a wrapper's chatter where this
//! parser passes it over; `parse_stream` reads with `read_line`, so a line that is not UTF-8 is an
//! `InvalidData` error where this parser shows it lossily; and it turns serde_json's recursion
//! limit off: one 200 KB line of 100,000 nested `[` on cargo's stdout overflowed the stack and
//! aborted the process (SIGABRT, in a test thread's 2 MiB stack), where this parser's
//! `serde_json::from_str` takes it and skips the field.

use super::request::BuiltBinary;
use crate::platform::Platform;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The bins of a complete stream of cargo JSON messages (one per line), sorted by package and name,
/// and whether cargo said the build finished successfully.
#[cfg(test)]
pub fn parse_messages(stream: &str, platform: Platform) -> (Vec<BuiltBinary>, Option<bool>) {
    let mut parser = MessageParser::new(&[platform]);
    for line in stream.lines() {
        parser.feed(line);
    }
    let finished = parser.finished;
    (parser.finish().unwrap_or_default(), finished)
}

/// Reads cargo's `--message-format=json` lines one at a time.
pub(super) struct MessageParser {
    /// The targets of the build: a bin is its target's when its path has the triple as a
    /// component (`<target-dir>/<triple>/<profile>/<bin>`); a build of one target needs no look.
    platforms: Vec<Platform>,
    /// Keyed by (platform, package name, bin name, package id): sorted, one entry per bin even
    /// if cargo repeats itself.
    bins: BTreeMap<(Platform, String, String, String), BuiltBinary>,
    /// Bins whose path names no target's triple (with several targets).
    unplaced: Vec<PathBuf>,
    /// `build-finished.success`, once seen.
    pub(super) finished: Option<bool>,
}

/// The fields of a cargo message we use.
#[derive(Deserialize)]
struct Message {
    reason: String,
    #[serde(default)]
    package_id: String,
    target: Option<MessageTarget>,
    executable: Option<PathBuf>,
    success: Option<bool>,
}

#[derive(Deserialize)]
struct MessageTarget {
    name: String,
    kind: Vec<String>,
}

impl MessageParser {
    pub(super) fn new(platforms: &[Platform]) -> MessageParser {
        MessageParser {
            platforms: platforms.to_vec(),
            bins: BTreeMap::new(),
            unplaced: Vec::new(),
            finished: None,
        }
    }

    /// The platform whose target directory `path` is in.
    fn platform_of(&self, path: &Path) -> Option<Platform> {
        if let [only] = self.platforms.as_slice() {
            return Some(*only);
        }
        self.platforms.iter().copied().find(|p| {
            path.components()
                .any(|c| c.as_os_str() == std::ffi::OsStr::new(p.rust_target()))
        })
    }

    /// Take one line; gives it back if it is not a cargo message.
    pub(super) fn feed<'a>(&mut self, line: &'a str) -> Option<&'a str> {
        let Ok(msg) = serde_json::from_str::<Message>(line) else {
            return (!line.trim().is_empty()).then_some(line);
        };
        match msg.reason.as_str() {
            "compiler-artifact" => {
                let (Some(target), Some(path)) = (msg.target, msg.executable) else {
                    return None;
                };
                if target.kind.iter().any(|k| k == "bin") {
                    let Some(platform) = self.platform_of(&path) else {
                        self.unplaced.push(path);
                        return None;
                    };
                    let bin = BuiltBinary {
                        package: package_name(&msg.package_id),
                        package_id: msg.package_id,
                        name: target.name,
                        path,
                        platform,
                    };
                    let key = (
                        platform,
                        bin.package.clone(),
                        bin.name.clone(),
                        bin.package_id.clone(),
                    );
                    self.bins.insert(key, bin);
                }
            }
            "build-finished" => self.finished = msg.success,
            _ => {}
        }
        None
    }

    /// The bins, sorted by platform, package and name; an error when cargo reported a bin under
    /// none of the targets' directories (it cannot be told which platform it is for).
    pub(super) fn finish(self) -> anyhow::Result<Vec<BuiltBinary>> {
        if let Some(path) = self.unplaced.first() {
            let triples: Vec<&str> = self.platforms.iter().map(|p| p.rust_target()).collect();
            anyhow::bail!(
                "cargo reported the binary {} in none of the targets' directories ({}), so its \
                 platform is not known: please report this, with your cargo version and \
                 configuration (build.target-dir, CARGO_BUILD_*)",
                path.display(),
                triples.join(", ")
            );
        }
        Ok(self.bins.into_values().collect())
    }
}

/// The package name in a cargo package id: `path+file:///x/foo#0.1.0` (name = last path segment),
/// `registry+https://...#foo@0.1.0`, or the old `foo 0.1.0 (path+file:///x/foo)`.
pub fn package_name(package_id: &str) -> String {
    if let Some((name, _)) = package_id.split_once(' ') {
        return name.to_string(); // the old format; new ids are URLs, which have no spaces
    }
    if let Some((url, fragment)) = package_id.split_once('#') {
        if let Some((name, _version)) = fragment.split_once('@') {
            return name.to_string();
        }
        let path = url.split(['?', '#']).next().unwrap_or(url);
        return path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(path)
            .to_string();
    }
    package_id.to_string()
}
