//! Sinks: where a built image goes. One small trait ([`Sink`]) and one implementation per file: an
//! OCI layout directory with the files beside it ([`layout::Layout`]), an oci-archive or
//! docker-archive tarball ([`archive::Tarball`]), a local container engine ([`load::Load`]),
//! registries ([`registry::Registry`]: the image through [`push`], which remembers where it pushed
//! blobs in [`mounts`], then its referrers and [`signatures`]). [`Tee`] hands one image to several.
//!
//! Takes a [`BuiltImage`] (its plan entry, its artifact and referrers in the blob store); gives the
//! written outputs, and fills in the image's report with what each sink did. What makes outputs
//! safe is below the sinks, in one place: [`commit`] (temps, locks, the swap, signal cleanup) and
//! [`beside`] (which files beside a layout are ours). Sinks depend on value types (blob, plan,
//! report, reference) and the registry client, never on `execute`, which builds the list.
//!
//! The trait and the values it is handed live in the leaf `api`, re-exported here: the sinks take
//! them from there and never import this module, and the commit machinery below them points one
//! way: `temp` is a leaf, `sweep`, `lock` and `signals` use it, and `commit` uses them all.

mod api;
pub mod archive;
pub mod beside;
pub mod commit;
pub mod layout;
pub mod load;
pub mod lock;
pub mod mounts;
pub mod push;
pub mod refs;
pub mod registry;
pub mod signals;
pub mod signatures;
pub mod sweep;
pub mod sync;
pub mod tarball_format;
pub mod temp;

pub use api::{About, BuiltImage, Named, Referrer, Sink};

use crate::report::ImageReport;
use anyhow::Result;

/// Several sinks as one (ko's tee): each image goes to every one of them, in order; the first
/// failure stops the rest.
pub struct Tee<'a>(pub Vec<Box<dyn Sink + 'a>>);

impl Sink for Tee<'_> {
    fn write(&self, image: &BuiltImage<'_>, report: &mut ImageReport) -> Result<()> {
        self.0.iter().try_for_each(|s| s.write(image, report))
    }
}
