//! Shared helpers for the integration tests: real peers (registry, podman, skopeo, umoci, ...).
#![allow(dead_code)]

pub mod base_layout;
pub mod blob_cache;
pub mod checkout;
pub mod debuginfo;
pub mod docker;
pub mod echo;
pub mod outputs;
pub mod peers;
pub mod pieces;
pub mod registry;
pub mod slim;
pub mod tar;
pub mod token;
pub mod toolchain;
