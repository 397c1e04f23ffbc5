//! The OCI distribution protocol, as a small synchronous client used by `--push` and by base-image pulls.
//!
//! [`Client`] talks to one registry ([`Clients`] keeps one per registry for a run; set up with
//! [`ClientOptions`]): ping ([`probe`]), auth (Basic
//! and Bearer tokens, see [`auth`]), TLS trust ([`tls`]), credentials from docker/podman config files and helpers ([`credentials`]), retries
//! and redirects ([`client`] on top of the transport, [`http`]); [`pull`] reads manifests and blobs and verifies them;
//! [`urls`] resolves and checks every URL a registry gives (no https downgrade);
//! [`upload`] pushes blobs (skip, mount, monolithic or chunked upload) and manifests. Errors are
//! [`RegistryError`]s that name the registry and what to try; secrets never appear in them.

pub mod auth;
mod chunked;
pub mod client;
pub mod credentials;
pub mod error;
pub mod http;
pub mod options;
pub mod probe;
pub mod pull;
mod session;
pub mod tls;
pub mod tuning;
pub mod upload;
pub mod urls;

pub use client::{Client, ClientOptions, Clients, Tuning};
pub use credentials::{Credential, CredentialEnv, Secret};
pub use error::RegistryError;
pub use pull::{Manifest, MANIFEST_ACCEPT};
pub use upload::BlobOutcome;
