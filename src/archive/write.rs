//! `custos archive --month`: one month of every archived table written as gzip NDJSON files under
//! `DIR/YYYY-MM/NNNNNN/`, then the signed digest `DIR/digests/NNNNNN.json` chained to the previous one.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest as _, Sha256};

use super::digest::{self, Digest, FileEntry, PreviousDigest, FORMAT};
use super::keys::{hex, sha256_hex, Hashing, SigningKey};
use crate::store::archive::ARCHIVED;
use crate::store::Store;

/// A month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    pub fn parse(s: &str) -> Result<Month, String> {
        let bad = || format!("`{s}` is not a month (YYYY-MM)");
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        let (year, month) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if y.len() != 4 || m.len() != 2 || !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Month { year, month })
    }

    /// From a `YYYYMM` partition id.
    pub fn from_partition(id: u32) -> Option<Month> {
        let m = Month {
            year: (id / 100) as i32,
            month: id % 100,
        };
        (1..=12).contains(&m.month).then_some(m)
    }

    pub fn partition(&self) -> u32 {
        self.year as u32 * 100 + self.month
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

fn rfc3339(secs: u32) -> String {
    crate::time::rfc3339(crate::time::at(secs, 0))
}

/// The chain's last digest in `dir`: its sequence and what the next digest records of it.
fn chain_tail(dir: &Path) -> anyhow::Result<(u64, Option<PreviousDigest>)> {
    let Some((seq, path)) = digest::digest_files(dir)?.pop() else {
        return Ok((0, None));
    };
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let sig_path = PathBuf::from(digest::signature_path(&path.display().to_string()));
    let sig = std::fs::read(&sig_path).with_context(|| {
        format!(
            "the chain's last digest {} has no signature; run `custos archive verify`",
            path.display()
        )
    })?;
    Ok((
        seq,
        Some(PreviousDigest {
            path: digest::digest_path(seq),
            sha256: sha256_hex(&bytes),
            signature: hex(&sig),
        }),
    ))
}

/// Writes one file: gzip of the table's month, hashing the uncompressed content and the file as
/// written, and counting rows. (content SHA-256, file SHA-256, rows)
async fn write_table(
    store: &Store,
    t: &crate::store::archive::Archived,
    month: Month,
    file: &Path,
) -> anyhow::Result<(String, String, u64)> {
    let tmp = file.with_extension("gz.partial");
    let out = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let out = std::io::BufWriter::new(Hashing::new(out));
    let mut gz = flate2::write::GzEncoder::new(out, Default::default());
    let (mut sha, mut rows) = (Sha256::new(), 0u64);
    let mut cursor = store
        .month_rows(t, month.partition())
        .with_context(|| format!("reading {month} of {}", t.table))?;
    while let Some(chunk) = cursor
        .next()
        .await
        .with_context(|| format!("reading {month} of {}", t.table))?
    {
        sha.update(&chunk);
        rows += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        tokio::task::block_in_place(|| gz.write_all(&chunk))
            .with_context(|| format!("writing {}", tmp.display()))?;
    }
    let mut w = gz.finish()?;
    w.flush()?;
    let (out, file_sha256) = w.into_inner().map_err(|e| e.into_error())?.finish();
    out.sync_all()
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, file)?;
    Ok((hex(&sha.finalize()), file_sha256, rows))
}

/// Archives `month` into `dir` and returns the digest written.
pub async fn archive_month(
    store: &Store,
    month: Month,
    dir: &Path,
    key: &SigningKey,
) -> anyhow::Result<(PathBuf, Digest)> {
    std::fs::create_dir_all(dir.join(digest::DIGESTS))
        .with_context(|| format!("creating {}", dir.display()))?;
    let (last, previous) = chain_tail(dir)?;
    let seq = last + 1;
    let rel_dir = format!("{month}/{seq:06}");
    std::fs::create_dir_all(dir.join(&rel_dir))
        .with_context(|| format!("creating {}/{rel_dir}", dir.display()))?;
    let mut files = Vec::new();
    for t in ARCHIVED {
        let rel = format!("{rel_dir}/{}.ndjson.gz", t.table);
        let path = dir.join(&rel);
        let span = store
            .month_span(t, month.partition())
            .await
            .with_context(|| format!("reading {month} of {}", t.table))?;
        let (sha256, file_sha256, rows) = write_table(store, t, month, &path).await?;
        let (first, last) = if rows == 0 {
            (String::new(), String::new())
        } else {
            (rfc3339(span.first), rfc3339(span.last))
        };
        tracing::info!(table = t.table, %month, rows, file = %rel, "archived");
        files.push(FileEntry {
            path: rel,
            table: t.table.to_owned(),
            compression: "gzip".into(),
            sha256,
            file_sha256,
            rows,
            first_time: first,
            last_time: last,
        });
    }
    let d = Digest {
        format: FORMAT.into(),
        sequence: seq,
        month: month.to_string(),
        created_at: crate::time::rfc3339(chrono::Utc::now()),
        database: store.database().to_owned(),
        files,
        previous,
        public_key: key.public().hex(),
    };
    let bytes = d.to_bytes();
    let path = dir.join(digest::digest_path(seq));
    let sig = PathBuf::from(digest::signature_path(&path.display().to_string()));
    // The signature first: a digest file is never there without it.
    std::fs::write(&sig, key.sign(&bytes)).with_context(|| format!("writing {}", sig.display()))?;
    let tmp = path.with_extension("json.partial");
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok((path, d))
}

#[cfg(test)]
mod tests {
    use super::Month;

    #[test]
    fn months_parse_strictly() {
        assert_eq!(
            Month::parse("2026-01").unwrap(),
            Month {
                year: 2026,
                month: 1
            }
        );
        assert_eq!(Month::parse("2026-01").unwrap().partition(), 202601);
        assert_eq!(Month::parse("2026-12").unwrap().to_string(), "2026-12");
        for bad in ["2026-13", "2026-1", "26-01", "2026/01", "", "2026-00"] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Month::from_partition(202512)
                .map(|m| m.to_string())
                .as_deref(),
            Some("2025-12")
        );
    }
}
