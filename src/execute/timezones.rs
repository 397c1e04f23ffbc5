//! The zoneinfo layer in an image (`timezones = true`): made once per run, shared by every image
//! and platform that asks for it, and laid between the bottom of the image (the base files, or a
//! base image and what it lacks) and the application layer.
//!
//! On a base that has `/usr/share/zoneinfo` of its own, ours lies over it: a zone of both is ours
//! (the pinned tzdata), a file only the base has (`zone1970.tab`, `right/...`) stays. A note says so.

use crate::base::{BaseImage, PlatformBase};
use crate::blob::BlobStore;
use crate::image::Image;
use crate::layer::{zoneinfo, Layer, LayerCompression};
use crate::plan::Plan;
use crate::platform::Platform;
use crate::report::LayerReport;
use anyhow::Result;

/// The zoneinfo layer, when some image of the plan asks for it.
pub(super) fn layer(
    plan: &Plan,
    store: &BlobStore,
    compression: LayerCompression,
) -> Result<Option<Layer>> {
    if !plan.images.iter().any(|i| i.timezones) {
        return Ok(None);
    }
    zoneinfo::build(store, compression).map(Some)
}

/// `image` with the zoneinfo layer on top (when `tz` is given), its report pushed onto `layers`.
pub(super) fn append(
    image: Image,
    layers: &mut Vec<LayerReport>,
    tz: Option<&Layer>,
    on: Option<(&BaseImage, &PlatformBase)>,
    platform: Platform,
) -> Image {
    let Some(tz) = tz else {
        return image;
    };
    if let Some((b, pb)) = on {
        crate::base::assemble::warn_links_replaced(
            b,
            pb,
            platform,
            "zoneinfo",
            [(zoneinfo::DIR, true)],
        );
    }
    if let Some((b, _)) = on.filter(|(_, pb)| pb.has_dir(zoneinfo::DIR)) {
        crate::ui::note(format!(
            "on {} ({platform}): the base has {dir} of its own; the zoneinfo layer (tzdata {}) lies \
             over it, so a zone both have is ours and the base's other files there stay",
            b.name,
            zoneinfo::VERSION,
            dir = zoneinfo::DIR
        ));
    }
    layers.push(
        LayerReport::new("zoneinfo", &tz.descriptor, tz.uncompressed_size)
            .at_level(tz.compression.level()),
    );
    image.append(tz)
}
