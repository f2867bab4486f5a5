//! The digest file of an archive run (docs/archives.md): per archive file its SHA-256 (of the
//! uncompressed content), row count and first/last time, and the previous digest's SHA-256 and
//! signature (CloudTrail's chain). `digests/NNNNNN.json` is signed by `digests/NNNNNN.json.sig`
//! (the raw 64-byte Ed25519 signature of the file's bytes, as `openssl pkeyutl -sign -rawin` makes it).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const FORMAT: &str = "custos-archive-digest/1";
/// The folder of the digest files inside an archive directory.
pub const DIGESTS: &str = "digests";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Digest {
    pub format: String,
    /// 1, 2, …: this digest's place in the directory's chain.
    pub sequence: u64,
    /// The month archived, `YYYY-MM`.
    pub month: String,
    /// When the archive was written (RFC 3339, UTC).
    pub created_at: String,
    /// The ClickHouse database it was read from.
    pub database: String,
    pub files: Vec<FileEntry>,
    /// The digest before this one in the chain (`null` for the first).
    pub previous: Option<PreviousDigest>,
    /// The signing key's public key (hex of the 32 Ed25519 bytes).
    pub public_key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative to the archive directory, `/`-separated.
    pub path: String,
    pub table: String,
    /// `gzip`.
    pub compression: String,
    /// SHA-256 of the uncompressed content (`zcat FILE | sha256sum`).
    pub sha256: String,
    /// SHA-256 of the file as stored (`sha256sum FILE`).
    pub file_sha256: String,
    pub rows: u64,
    /// First and last time of the rows (the table's time column; RFC 3339, UTC; "" when empty).
    pub first_time: String,
    pub last_time: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviousDigest {
    pub path: String,
    /// SHA-256 of the previous digest file's bytes.
    pub sha256: String,
    /// Its signature (hex).
    pub signature: String,
}

/// `digests/000001.json` for sequence 1.
pub fn digest_path(sequence: u64) -> String {
    format!("{DIGESTS}/{sequence:06}.json")
}

pub fn signature_path(digest: &str) -> String {
    format!("{digest}.sig")
}

/// The digest files of `dir`, by sequence (parsed from their names; unparsable names skipped).
pub fn digest_files(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let d = dir.join(DIGESTS);
    if !d.exists() {
        return Ok(out);
    }
    for e in std::fs::read_dir(d)? {
        let p = e?.path();
        let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(seq) = name.strip_suffix(".json").and_then(|n| n.parse().ok()) {
            out.push((seq, p));
        }
    }
    out.sort();
    Ok(out)
}

impl Digest {
    /// The bytes written (and signed): pretty JSON with a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a digest serializes");
        v.push(b'\n');
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_round_trips_and_refuses_unknown_fields() {
        let d = Digest {
            format: FORMAT.into(),
            sequence: 2,
            month: "2026-01".into(),
            created_at: "2026-02-02T00:00:00Z".into(),
            database: "custos".into(),
            files: vec![FileEntry {
                path: "2026-01/000002/events.ndjson.gz".into(),
                table: "events".into(),
                compression: "gzip".into(),
                sha256: "ab".into(),
                file_sha256: "cd".into(),
                rows: 3,
                first_time: "2026-01-01T00:00:00Z".into(),
                last_time: "2026-01-31T23:59:59Z".into(),
            }],
            previous: Some(PreviousDigest {
                path: digest_path(1),
                sha256: "ef".into(),
                signature: "01".into(),
            }),
            public_key: "00".into(),
        };
        let back: Digest = serde_json::from_slice(&d.to_bytes()).unwrap();
        assert_eq!(back, d);
        let mut v: serde_json::Value = serde_json::from_slice(&d.to_bytes()).unwrap();
        v["extra"] = 1.into();
        assert!(serde_json::from_value::<Digest>(v).is_err());
        assert_eq!(digest_path(12), "digests/000012.json");
    }
}
