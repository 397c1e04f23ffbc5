//! Sinks: where a built [`crate::blob::Artifact`] goes. One file per sink.

pub mod push;
