//! Software bills of materials: what is inside an image, for scanners that find no OS packages in a
//! FROM-scratch image.
//!
//! Takes the dependency graph of an image's binaries for one platform ([`deps`]) and the image's
//! manifest descriptor, and gives an SPDX 2.3 ([`spdx`]) or CycloneDX 1.5 ([`cyclonedx`]) JSON
//! document. Documents are reproducible: the time is `SOURCE_DATE_EPOCH` (else 0) and the document
//! namespace / serial number derive from the image's manifest digest, never from a clock or a random
//! number. [`referrer`] wraps a document in an OCI 1.1 artifact manifest whose `subject` is the image.

pub mod cyclonedx;
pub mod deps;
pub mod format;
pub mod output;
pub mod referrer;
pub mod spdx;
mod subject;

pub use format::{Choice, Format};
pub use subject::{image_purl, tool_name, Subject, Tzdata};

/// Build the document for `s` in `format`, as canonical JSON bytes.
pub fn document(s: &Subject<'_>, format: Format) -> Vec<u8> {
    let v = match format {
        Format::Spdx => spdx::document(s),
        Format::Cyclonedx => cyclonedx::document(s),
    };
    let mut bytes = crate::blob::canonical_json(&v);
    bytes.push(b'\n');
    bytes
}
