//! `custos archive restore DIR`: verifies the directory (and refuses one that does not verify), then
//! loads its rows back into ClickHouse. Restoring twice changes nothing: tables that keep one row per
//! key collapse the copies (every read is `FINAL`), and into the others only rows not already stored
//! are loaded.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::Path;

use anyhow::{bail, Context};
use sha2::{Digest as _, Sha256};

use super::keys::PublicKey;
use super::verify::verify_dir;
use super::write::Month;
use crate::store::archive::{archived, Archived};
use crate::store::Store;

/// Rows loaded per insert statement (bytes).
const CHUNK: usize = 8 << 20;

fn line_hash(line: &[u8]) -> u128 {
    let d = Sha256::digest(line);
    u128::from_le_bytes(d[..16].try_into().expect("16 bytes"))
}

/// The rows `month` of `t` holds now, as line hashes (the form `archive` writes them in).
async fn stored_lines(store: &Store, t: &Archived, month: Month) -> anyhow::Result<HashSet<u128>> {
    let mut set = HashSet::new();
    let mut cursor = store.month_rows(t, month.partition())?;
    let mut rest = Vec::new();
    while let Some(chunk) = cursor.next().await? {
        rest.extend_from_slice(&chunk);
        let end = rest.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        for l in rest[..end].split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            set.insert(line_hash(l));
        }
        rest.drain(..end);
    }
    Ok(set)
}

/// Restores `dir`; returns the rows loaded per table.
pub async fn restore(
    store: &Store,
    dir: &Path,
    pubkey: Option<PublicKey>,
) -> anyhow::Result<Vec<(String, u64)>> {
    let report = verify_dir(dir, pubkey).with_context(|| format!("reading {}", dir.display()))?;
    if !report.ok() {
        bail!(
            "{} does not verify (`custos archive verify {}` lists what is wrong): nothing restored",
            dir.display(),
            dir.display()
        );
    }
    let mut loaded: Vec<(String, u64)> = Vec::new();
    let mut seen: std::collections::HashMap<(String, u32), HashSet<u128>> = Default::default();
    for d in &report.digests {
        let month = Month::parse(&d.month).map_err(anyhow::Error::msg)?;
        for f in &d.files {
            let Some(t) = archived(&f.table) else {
                bail!("{}: table `{}` is not one custos archives", f.path, f.table);
            };
            let key = (f.table.clone(), month.partition());
            if !t.replacing && !seen.contains_key(&key) {
                seen.insert(key.clone(), stored_lines(store, t, month).await?);
            }
            let file = std::fs::File::open(dir.join(&f.path))
                .with_context(|| format!("opening {}", f.path))?;
            let mut lines =
                std::io::BufReader::new(flate2::read::GzDecoder::new(file)).split(b'\n');
            let (mut buf, mut n) = (Vec::new(), 0u64);
            while let Some(line) = lines.next().transpose()? {
                if line.is_empty() {
                    continue;
                }
                if let Some(set) = seen.get_mut(&key) {
                    if !set.insert(line_hash(&line)) {
                        continue;
                    }
                }
                buf.extend_from_slice(&line);
                buf.push(b'\n');
                n += 1;
                if buf.len() >= CHUNK {
                    store
                        .load_rows(t.table, std::mem::take(&mut buf))
                        .await
                        .with_context(|| format!("loading {}", f.path))?;
                }
            }
            store
                .load_rows(t.table, buf)
                .await
                .with_context(|| format!("loading {}", f.path))?;
            tracing::info!(file = %f.path, rows = n, "restored");
            match loaded.iter_mut().find(|(t, _)| *t == f.table) {
                Some((_, c)) => *c += n,
                None => loaded.push((f.table.clone(), n)),
            }
        }
    }
    Ok(loaded)
}
