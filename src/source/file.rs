//! JSON Lines files (or `-` for stdin), plain or gzip (detected by magic bytes). Blocking reads on a
//! dedicated thread; raw line bytes are kept exactly (minus the line ending) for dead letters.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::mpsc;

use super::{Input, CHUNK};
use crate::model::{Envelope, Position, Stream};

/// Opens `path` (`-` = stdin), transparently gunzipping.
fn open(path: &str) -> anyhow::Result<Box<dyn BufRead + Send>> {
    let inner: Box<dyn Read + Send> = if path == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path).with_context(|| format!("cannot open {path}"))?)
    };
    let mut reader = BufReader::with_capacity(1 << 20, inner);
    let gz = reader
        .fill_buf()
        .map(|b| b.starts_with(&[0x1f, 0x8b]))
        .unwrap_or(false);
    Ok(if gz {
        Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::read::MultiGzDecoder::new(reader),
        ))
    } else {
        Box::new(reader)
    })
}

/// The name positions carry: the canonical path, so a replay from another directory gives the same ids.
pub fn display_path(path: &str) -> Arc<str> {
    if path == "-" {
        return Arc::from("-");
    }
    std::fs::canonicalize(path)
        .map(|p| Arc::from(p.to_string_lossy().as_ref()))
        .unwrap_or_else(|_| Arc::from(path))
}

/// Reads every line of `path` into `tx` as `stream` records. Blank lines are skipped (line numbers
/// still count them). Returns the number of records sent. Blocking: run it on a blocking thread.
pub fn read_lines(path: &str, stream: Stream, tx: &mpsc::Sender<Input>) -> anyhow::Result<u64> {
    let name = display_path(path);
    let mut reader = open(path)?;
    let mut chunk = Vec::with_capacity(CHUNK);
    let (mut line_no, mut sent) = (0u64, 0u64);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {path} at line {}", line_no + 1))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        chunk.push(Envelope {
            stream,
            pos: Position::File {
                path: name.clone(),
                line: line_no,
            },
            raw: buf.clone(),
        });
        sent += 1;
        if chunk.len() == CHUNK {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
            tx.blocking_send(Input::Records(full))
                .map_err(|_| anyhow::anyhow!("pipeline stopped while reading {path}"))?;
        }
    }
    if !chunk.is_empty() {
        tx.blocking_send(Input::Records(chunk))
            .map_err(|_| anyhow::anyhow!("pipeline stopped while reading {path}"))?;
    }
    Ok(sent)
}
