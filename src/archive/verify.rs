//! `custos archive verify DIR`: every file against its digest, every digest's signature, and the
//! chain of digests; each file reported ok / modified / missing / not in any digest.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::digest::{self, Digest, FileEntry};
use super::keys::{hex, sha256_hex, Hashing, PublicKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    Ok,
    Modified,
    Missing,
    NotInAnyDigest,
}

impl FileStatus {
    pub fn label(&self) -> &'static str {
        match self {
            FileStatus::Ok => "ok",
            FileStatus::Modified => "modified",
            FileStatus::Missing => "missing",
            FileStatus::NotInAnyDigest => "not in any digest",
        }
    }
}

/// What a verification found.
#[derive(Debug, Default)]
pub struct Report {
    /// Every file named by a digest or found in the directory, by path.
    pub files: BTreeMap<String, FileStatus>,
    /// Problems of digests, signatures and the chain.
    pub chain: Vec<String>,
    /// The digests that verified, in order.
    pub digests: Vec<Digest>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.chain.is_empty() && self.files.values().all(|s| *s == FileStatus::Ok)
    }
}

/// Whether `path` holds `e`'s bytes: the stored file's SHA-256, and the uncompressed content's
/// SHA-256 and row count (one streaming pass).
fn file_matches(path: &Path, e: &FileEntry) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut gz = flate2::read::GzDecoder::new(Hashing::new(std::io::BufReader::new(file)));
    let (mut sha, mut rows, mut buf) = (Sha256::new(), 0u64, vec![0u8; 64 * 1024]);
    loop {
        match gz.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                sha.update(&buf[..n]);
                rows += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
            }
            Err(_) => return false,
        }
    }
    // Whatever follows the gzip member is part of the file too.
    let mut raw = gz.into_inner();
    if std::io::copy(&mut raw, &mut std::io::sink()).is_err() {
        return false;
    }
    let (_, file_sha256) = raw.finish();
    file_sha256 == e.file_sha256 && hex(&sha.finalize()) == e.sha256 && rows == e.rows
}

/// Every file under `dir`, relative and `/`-separated.
fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        if e.file_type()?.is_dir() {
            walk(&e.path(), &r, out)?;
        } else {
            out.push(r);
        }
    }
    Ok(())
}

/// Verifies `dir`. With `pubkey` every digest must be signed by it; without, by the key the first
/// digest names (which proves the directory consistent, not who wrote it).
pub fn verify_dir(dir: &Path, pubkey: Option<PublicKey>) -> std::io::Result<Report> {
    let mut r = Report::default();
    let mut known: BTreeMap<String, FileEntry> = BTreeMap::new();
    let mut digest_names = std::collections::BTreeSet::new();
    let mut key = pubkey;
    // The previous digest present: its sequence, path, bytes' hash and signature.
    let mut prev: Option<(u64, String, String)> = None;
    for (seq, path) in digest::digest_files(dir)? {
        let rel = digest::digest_path(seq);
        digest_names.insert(rel.clone());
        digest_names.insert(digest::signature_path(&rel));
        let bytes = std::fs::read(&path)?;
        let sig = std::fs::read(PathBuf::from(digest::signature_path(
            &path.display().to_string(),
        )));
        let parsed: Result<Digest, _> = serde_json::from_slice(&bytes);
        let d = match parsed {
            Ok(d) if d.format == digest::FORMAT && d.sequence == seq => d,
            Ok(_) => {
                r.chain.push(format!(
                    "{rel}: not a {} digest for sequence {seq}",
                    digest::FORMAT
                ));
                continue;
            }
            Err(e) => {
                r.chain.push(format!("{rel}: modified (not a digest: {e})"));
                continue;
            }
        };
        let k = *key.get_or_insert_with(|| {
            PublicKey::from_hex(&d.public_key).unwrap_or(PublicKey([0; 32]))
        });
        let sig = match sig {
            Ok(s) => s,
            Err(_) => {
                r.chain
                    .push(format!("{rel}: its signature file is missing"));
                Vec::new()
            }
        };
        let signed = !sig.is_empty() && k.verifies_raw(&bytes, &sig);
        if !sig.is_empty() && !signed {
            r.chain.push(format!(
                "{rel}: modified (its signature does not verify with the public key)"
            ));
        }
        // The chain: this digest names the one before it, which must be here unchanged.
        match (&prev, &d.previous) {
            (None, None) if seq == 1 => {}
            (None, _) => r.chain.push(format!(
                "{rel}: the digests before it are missing (the chain starts at {seq})"
            )),
            (Some((pseq, ..)), _) if *pseq + 1 != seq => r.chain.push(format!(
                "{}: missing (the chain breaks between {} and {rel})",
                digest::digest_path(pseq + 1),
                digest::digest_path(*pseq)
            )),
            (Some((_, psha, psig)), Some(p))
                if p.sha256 == *psha
                    && p.signature == *psig
                    && p.path == digest::digest_path(seq - 1) => {}
            (Some(_), _) => r.chain.push(format!(
                "{rel}: the previous digest it names is not the one here (the chain is broken)"
            )),
        }
        prev = Some((seq, sha256_hex(&bytes), hex(&sig)));
        for f in &d.files {
            known.insert(f.path.clone(), f.clone());
        }
        if signed {
            r.digests.push(d);
        }
    }
    let mut present = Vec::new();
    if dir.exists() {
        walk(dir, "", &mut present)?;
    }
    for p in &present {
        if digest_names.contains(p) {
            continue;
        }
        let status = match known.get(p) {
            Some(e) if file_matches(&dir.join(p), e) => FileStatus::Ok,
            Some(_) => FileStatus::Modified,
            None => FileStatus::NotInAnyDigest,
        };
        r.files.insert(p.clone(), status);
    }
    for p in known.keys() {
        r.files.entry(p.clone()).or_insert(FileStatus::Missing);
    }
    Ok(r)
}
