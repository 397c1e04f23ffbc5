//! The key signer: an ECDSA P-256 private key from a PEM file or variable, as cosign signs with.
//!
//! Takes the key text and what it came from (its file name or variable, named in every error);
//! gives a [`KeySigner`]. Two formats: PKCS#8 (`-----BEGIN PRIVATE KEY-----`, what
//! `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256` writes) and cosign's encrypted
//! `cosign.key` (`-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----`, or the older `ENCRYPTED COSIGN`):
//! JSON holding scrypt parameters and salt, a NaCl secretbox nonce and the sealed PKCS#8 key, opened
//! with the password in `COSIGN_PASSWORD`. The key text and the password are handed to the redaction
//! step before anything else is done with them, and no error carries any part of them, nor the text
//! of an error of the parsing crates (which may quote their input).

use super::signer::Signer;
use anyhow::{bail, Result};
use base64::Engine as _;
use p256::ecdsa::SigningKey;
use p256::pkcs8::DecodePrivateKey as _;

/// The most of a key file read: a P-256 key, even encrypted, is well under 1 KiB.
pub const MAX_KEY: u64 = 64 << 10;

/// scrypt bounds for an encrypted key: memory is 128 * N * r bytes (cosign: N 32768, r 8, p 1 = 32 MiB).
const MAX_LOG_N: u8 = 16;
const MAX_R: u32 = 8;
const MAX_P: u32 = 4;

/// An ECDSA P-256 key.
pub struct KeySigner {
    key: SigningKey,
    origin: String,
}

impl std::fmt::Debug for KeySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        write!(f, "KeySigner({})", self.origin)
    }
}

impl Signer for KeySigner {
    fn describe(&self) -> String {
        self.origin.clone()
    }

    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>> {
        use p256::ecdsa::signature::Signer as _;
        // SHA-256 of the payload, RFC 6979 nonce: the same key and payload give the same signature.
        let sig: p256::ecdsa::Signature = self.key.sign(payload);
        Ok(sig.to_der().as_bytes().to_vec())
    }

    fn public_key_pem(&self) -> Result<String> {
        use p256::pkcs8::EncodePublicKey as _;
        self.key
            .verifying_key()
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .map_err(|_| anyhow::anyhow!("{}: its public key cannot be written", self.origin))
    }
}

/// Remember every part of the key text that could be echoed: the whole text and each line.
pub fn remember_secret(text: &str) {
    crate::ui::remember(text.trim());
    for line in text.lines().map(str::trim) {
        if !line.starts_with("-----") && line.len() >= 8 {
            crate::ui::remember(line);
        }
    }
}

/// The base64 body of the PEM block labelled `label` in `text`, if there is one.
fn pem_body(text: &str, label: &str) -> Option<String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    Some(text[start..stop].split_whitespace().collect())
}

/// Load a key from `text`; `origin` names where it came from (`the signing key key.pem`,
/// `the signing key in SLIM_IMAGE_SIGNING_KEY`); `password` is `COSIGN_PASSWORD` (for an encrypted
/// key).
pub fn load(text: &str, origin: &str, password: Option<&str>) -> Result<KeySigner> {
    remember_secret(text);
    if let Some(p) = password {
        crate::ui::remember(p);
    }
    let der = if let Some(body) = [
        "ENCRYPTED SIGSTORE PRIVATE KEY",
        "ENCRYPTED COSIGN PRIVATE KEY",
    ]
    .iter()
    .find_map(|l| pem_body(text, l))
    {
        let Some(password) = password else {
            bail!(
                "{origin} is an encrypted cosign key: set COSIGN_PASSWORD to its password (an \
                 empty password is `COSIGN_PASSWORD=`)"
            );
        };
        decrypt(&body, password, origin)?
    } else if let Some(body) = pem_body(text, "PRIVATE KEY") {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| anyhow::anyhow!("{origin}: the PRIVATE KEY block is not valid base64"))?
    } else if pem_body(text, "EC PRIVATE KEY").is_some() {
        bail!(
            "{origin} is a SEC1 `EC PRIVATE KEY`: convert it to PKCS#8 with `openssl pkcs8 -topk8 \
             -nocrypt -in KEY -out key.pem`, or use a cosign.key"
        );
    } else {
        bail!(
            "{origin} holds no PEM private key: give an ECDSA P-256 key in PKCS#8 (`-----BEGIN \
             PRIVATE KEY-----`) or a cosign.key (`-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----`)"
        );
    };
    let key = SigningKey::from_pkcs8_der(&der).map_err(|_| {
        anyhow::anyhow!(
            "{origin} is not an ECDSA P-256 private key in PKCS#8 (cosign signs with P-256: \
             `cosign generate-key-pair`, or `openssl genpkey -algorithm EC -pkeyopt \
             ec_paramgen_curve:P-256`)"
        )
    })?;
    Ok(KeySigner {
        key,
        origin: origin.to_string(),
    })
}

#[derive(serde::Deserialize)]
struct Encrypted {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(serde::Deserialize)]
struct Kdf {
    name: String,
    params: KdfParams,
    salt: String,
}

#[derive(serde::Deserialize)]
struct KdfParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(serde::Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// Open cosign's encrypted key (go-securesystemslib's `encrypted` format): scrypt(password, salt)
/// gives the 32-byte secretbox key, the box holds the PKCS#8 DER.
fn decrypt(body: &str, password: &str, origin: &str) -> Result<Vec<u8>> {
    use crypto_secretbox::aead::{Aead, KeyInit};
    let b64 = base64::engine::general_purpose::STANDARD;
    let bad = |what: &str| anyhow::anyhow!("{origin}: not a cosign encrypted key ({what})");
    let json = b64
        .decode(body)
        .map_err(|_| bad("the block is not base64"))?;
    let e: Encrypted =
        serde_json::from_slice(&json).map_err(|_| bad("the block is not its JSON"))?;
    if e.kdf.name != "scrypt" || e.cipher.name != "nacl/secretbox" {
        bail!(
            "{origin}: the key is sealed with {} and {}; only scrypt and nacl/secretbox (what cosign \
             writes) are read",
            e.kdf.name.escape_debug(),
            e.cipher.name.escape_debug()
        );
    }
    let KdfParams { n, r, p } = e.kdf.params;
    if !n.is_power_of_two()
        || n < 2
        || n.trailing_zeros() > u32::from(MAX_LOG_N)
        || r > MAX_R
        || p > MAX_P
    {
        bail!(
            "{origin}: scrypt parameters N={n} r={r} p={p} are outside what is read (N a power of \
             two up to 2^{MAX_LOG_N}, r up to {MAX_R}, p up to {MAX_P}; cosign writes 32768, 8, 1)"
        );
    }
    let salt = b64
        .decode(&e.kdf.salt)
        .map_err(|_| bad("the salt is not base64"))?;
    let nonce = b64
        .decode(&e.cipher.nonce)
        .map_err(|_| bad("the nonce is not base64"))?;
    if nonce.len() != 24 {
        return Err(bad("the nonce is not 24 bytes"));
    }
    let sealed = b64
        .decode(&e.ciphertext)
        .map_err(|_| bad("the ciphertext is not base64"))?;
    let log_n = n.trailing_zeros() as u8;
    let params = scrypt::Params::new(log_n, r, p, 32).map_err(|_| bad("scrypt parameters"))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key)
        .map_err(|_| bad("scrypt parameters"))?;
    let cipher = crypto_secretbox::XSalsa20Poly1305::new(&key.into());
    cipher
        .decrypt(
            crypto_secretbox::Nonce::from_slice(&nonce),
            sealed.as_slice(),
        )
        .map_err(|_| {
            anyhow::anyhow!(
                "{origin}: the key does not open with the password in COSIGN_PASSWORD (wrong \
                 password, or the file is damaged)"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A P-256 key from a fixed scalar, as PKCS#8 PEM (no key file in the repository).
    fn key_pem() -> String {
        use p256::pkcs8::EncodePrivateKey as _;
        let k = SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
        k.to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
            .unwrap()
            .to_string()
    }

    #[test]
    fn signatures_are_deterministic_and_errors_never_quote_the_key() {
        let key = key_pem();
        let s = load(&key, "the signing key k.pem", None).unwrap();
        assert_eq!(s.sign(b"x").unwrap(), s.sign(b"x").unwrap());
        assert_ne!(s.sign(b"x").unwrap(), s.sign(b"y").unwrap());
        assert!(s
            .public_key_pem()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(format!("{s:?}"), "KeySigner(the signing key k.pem)");
        // A damaged key: the error names the origin and quotes nothing of the text.
        let broken = key.replacen("MIG", "MIH", 1);
        let e = load(&broken, "the signing key k.pem", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("k.pem"), "{e}");
        for line in broken.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!e.contains(line), "{e}");
        }
        let e = load("garbage", "the signing key in SLIM_IMAGE_SIGNING_KEY", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("holds no PEM private key") && !e.contains("garbage"),
            "{e}"
        );
    }
}
