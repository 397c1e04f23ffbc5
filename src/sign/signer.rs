//! The [`Signer`] trait, the seam between what signs (a key, one day a keyless signer) and what
//! is signed; a leaf that the signer implementations and their users import.

use anyhow::Result;

/// What signs payloads: ECDSA P-256 with SHA-256 (cosign's default scheme).
pub trait Signer {
    /// Where the key came from, for status lines and errors; never any part of the key.
    fn describe(&self) -> String;
    /// The ASN.1 DER signature of `payload`.
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>>;
    /// The public key (PEM) that verifies the signatures.
    fn public_key_pem(&self) -> Result<String>;
    /// A certificate binding the key to an identity (keyless signing); a key has none.
    fn certificate(&self) -> Option<String> {
        None
    }
}
