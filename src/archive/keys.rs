//! The archive signing key (Ed25519, PKCS#8 PEM as `openssl genpkey -algorithm ed25519` writes it)
//! and its public key (SubjectPublicKeyInfo PEM, as `openssl pkey -pubout` writes it, so an auditor
//! can check a signature with openssl alone).

use std::path::Path;

use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivatePkcs8KeyDer, SubjectPublicKeyInfoDer};

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32 key bytes follow.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// How to make a key, for every message that needs one.
pub const HOW_TO_MAKE_ONE: &str = "make one with `openssl genpkey -algorithm ed25519 -out \
    custos-archive.pem` (keep it apart from the archives) and set `[archive] signing_key_file` \
    (or CUSTOS_ARCHIVE_SIGNING_KEY_FILE)";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no archive signing key: {HOW_TO_MAKE_ONE}")]
    Missing,
    #[error("archive signing key {path}: {why}")]
    Unreadable { path: String, why: String },
    #[error("public key {path}: {why}")]
    BadPublicKey { path: String, why: String },
}

/// A loaded signing key.
pub struct SigningKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(****)")
    }
}

impl SigningKey {
    /// Reads `[archive] signing_key_file` ("" = none configured: [`KeyError::Missing`]).
    pub fn load(path: &str) -> Result<Self, KeyError> {
        if path.is_empty() {
            return Err(KeyError::Missing);
        }
        let bad = |why: String| KeyError::Unreadable {
            path: path.to_owned(),
            why,
        };
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let der = PrivatePkcs8KeyDer::from_pem_slice(&pem).map_err(|e| {
            bad(format!(
                "not a PKCS#8 PEM private key ({e}); {HOW_TO_MAKE_ONE}"
            ))
        })?;
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der.secret_pkcs8_der())
            .map_err(|e| bad(format!("not an Ed25519 key ({e}); {HOW_TO_MAKE_ONE}")))?;
        Ok(SigningKey { pair })
    }

    /// The key from PKCS#8 DER (tests).
    pub fn from_pkcs8(der: &[u8]) -> Option<Self> {
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .ok()
            .map(|pair| SigningKey { pair })
    }

    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.pair.sign(msg).as_ref());
        out
    }

    pub fn public(&self) -> PublicKey {
        let mut k = [0u8; 32];
        k.copy_from_slice(self.pair.public_key().as_ref());
        PublicKey(k)
    }
}

/// An Ed25519 public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Reads a SubjectPublicKeyInfo PEM (`custos archive pubkey`, `openssl pkey -pubout`).
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let bad = |why: String| KeyError::BadPublicKey {
            path: path.display().to_string(),
            why,
        };
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let der = SubjectPublicKeyInfoDer::from_pem_slice(&pem)
            .map_err(|e| bad(format!("not a PEM public key ({e})")))?;
        let der = der.as_ref();
        if der.len() != 44 || der[..12] != SPKI_PREFIX {
            return Err(bad("not an Ed25519 public key".into()));
        }
        let mut k = [0u8; 32];
        k.copy_from_slice(&der[12..]);
        Ok(PublicKey(k))
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        let v = hex_decode(s)?;
        Some(PublicKey(v.try_into().ok()?))
    }

    pub fn hex(&self) -> String {
        hex(&self.0)
    }

    /// The key as `-----BEGIN PUBLIC KEY-----` PEM.
    pub fn pem(&self) -> String {
        use base64::Engine;
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.0);
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n")
    }

    /// Whether `sig` (hex) is this key's signature of `msg`.
    pub fn verifies(&self, msg: &[u8], sig_hex: &str) -> bool {
        hex_decode(sig_hex).is_some_and(|sig| self.verifies_raw(msg, &sig))
    }

    pub fn verifies_raw(&self, msg: &[u8], sig: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(msg, sig)
            .is_ok()
    }
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A reader or writer that hashes (SHA-256) every byte passing through it: a file is hashed as it
/// is written or read, in one pass, never held whole in memory.
pub struct Hashing<T> {
    inner: T,
    sha: sha2::Sha256,
}

impl<T> Hashing<T> {
    pub fn new(inner: T) -> Self {
        use sha2::Digest;
        Hashing {
            inner,
            sha: sha2::Sha256::new(),
        }
    }

    /// The wrapped reader or writer, and the hex SHA-256 of what passed.
    pub fn finish(self) -> (T, String) {
        use sha2::Digest;
        (self.inner, hex(&self.sha.finalize()))
    }
}

impl<W: std::io::Write> std::io::Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<R: std::io::Read> std::io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        let rng = ring::rand::SystemRandom::new();
        let der = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        SigningKey::from_pkcs8(der.as_ref()).unwrap()
    }

    #[test]
    fn signatures_verify_only_with_their_key_and_message() {
        let (a, b) = (key(), key());
        let sig = hex(&a.sign(b"digest"));
        assert!(a.public().verifies(b"digest", &sig));
        assert!(!a.public().verifies(b"digest!", &sig));
        assert!(!b.public().verifies(b"digest", &sig));
        assert!(!a.public().verifies(b"digest", "zz"));
    }

    #[test]
    fn the_public_key_pem_reads_back() {
        let k = key().public();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pub.pem");
        std::fs::write(&p, k.pem()).unwrap();
        assert_eq!(PublicKey::load(&p).unwrap(), k);
        assert_eq!(PublicKey::from_hex(&k.hex()), Some(k));
    }

    #[test]
    fn hashing_reads_and_writes_give_the_sha256_of_what_passed() {
        use std::io::{Read, Write};
        let data = b"one line\nanother\n".repeat(1000);
        let mut w = Hashing::new(Vec::new());
        w.write_all(&data).unwrap();
        let (written, sha) = w.finish();
        assert_eq!(
            (written.as_slice(), sha.as_str()),
            (&data[..], sha256_hex(&data).as_str())
        );
        let mut r = Hashing::new(&data[..]);
        std::io::copy(&mut r.by_ref().take(7), &mut std::io::sink()).unwrap();
        std::io::copy(&mut r, &mut std::io::sink()).unwrap();
        assert_eq!(r.finish().1, sha256_hex(&data));
    }

    #[test]
    fn a_missing_key_says_how_to_make_one() {
        let e = SigningKey::load("").unwrap_err().to_string();
        assert!(e.contains("openssl genpkey -algorithm ed25519"), "{e}");
        let e = SigningKey::load("/nonexistent/key.pem")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/key.pem"), "{e}");
    }
}
