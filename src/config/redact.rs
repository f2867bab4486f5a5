//! The one redaction rule for everything custos prints — `check-config`, every log line, every error
//! message: a value under a key naming a secret (`password`, `secret`, `token`, `key`, any case, in any
//! table, `[kafka.librdkafka]` included — but not one naming a file: `tls_key_file`, `ssl.key.location`
//! hold paths, which are not secrets), a URL's user-info password, and URL query-string values are
//! shown as `***`. Configured secret values are also registered here, so a library's error text that
//! quotes one (a URL in a connection error) is scrubbed on its way out.

use std::io::{self, Write};
use std::sync::RwLock;

pub const MASK: &str = "***";

/// Words that make a config key a secret.
const SECRET_WORDS: &[&str] = &["password", "secret", "token", "key"];

/// Endings of keys that name a file (a path is no secret, and error messages must be able to name it).
const PATH_ENDINGS: &[&str] = &["_file", ".location"];

/// Secret values seen in the configuration (longest first), scrubbed from any printed text.
static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Whether a config key names a secret (`sasl.password`, `webhook_secret`, `ssl.key.password`,
/// `ssl.key.pem`, …), not a file holding one (`tls_key_file`, `ssl.key.location`).
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| k.contains(w)) && !PATH_ENDINGS.iter().any(|e| k.ends_with(e))
}

/// Registers a secret value: printed text never shows it again.
pub fn register(secret: &str) {
    // Shorter values would match ordinary text (a 3-digit password would mask every "123" in the
    // logs); they are still masked wherever they are structured (keys, URLs).
    if secret.chars().count() < 6 {
        return;
    }
    let mut known = KNOWN.write().unwrap_or_else(|e| e.into_inner());
    if !known.iter().any(|k| k == secret) {
        known.push(secret.to_owned());
        known.sort_by_key(|k| std::cmp::Reverse(k.len()));
    }
}

/// A URL with its user-info password and its query-string values masked
/// (`https://u:***@host/p?token=***`). Text that is not a URL is returned as is.
pub fn url(u: &str) -> String {
    let Some((scheme, rest)) = u.split_once("://") else {
        return u.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((info, host)) => match info.split_once(':') {
            Some((user, _)) => format!("{user}:{MASK}@{host}"),
            None => format!("{MASK}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let (query, frag) = match query.split_once('#') {
                Some((q, f)) => (q, format!("#{f}")),
                None => (query, String::new()),
            };
            let masked: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) => format!("{k}={MASK}"),
                    None => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}{frag}", masked.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// The secret parts of a URL (user-info password, query values), to [`register`].
pub fn url_secrets(u: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some((_, rest)) = u.split_once("://") else {
        return out;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if let Some((info, _)) = authority.rsplit_once('@') {
        out.push(info.split_once(':').map_or(info, |(_, p)| p).to_owned());
    }
    if let Some((_, q)) = rest.split_once('?') {
        let q = q.split('#').next().unwrap_or("");
        out.extend(
            q.split('&')
                .filter_map(|kv| kv.split_once('=').map(|(_, v)| v.to_owned())),
        );
    }
    out.retain(|s| !s.is_empty());
    out
}

/// Any text with every registered secret, and the secrets inside URLs, masked.
pub fn text(s: &str) -> String {
    let mut out = s.to_owned();
    if out.contains("://") {
        out = out
            .split_inclusive(char::is_whitespace)
            .map(|w| {
                let trimmed = w.trim_end();
                let start = trimmed.find("://").and_then(|i| {
                    trimmed[..i]
                        .rfind(|c: char| {
                            !(c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.')
                        })
                        .map_or(Some(0), |j| Some(j + 1))
                });
                match start {
                    Some(st) => {
                        let end = trimmed[st..]
                            .find(['"', '\'', '`', ')', '>', ','])
                            .map_or(trimmed.len(), |e| st + e);
                        format!(
                            "{}{}{}{}",
                            &trimmed[..st],
                            url(&trimmed[st..end]),
                            &trimmed[end..],
                            &w[trimmed.len()..]
                        )
                    }
                    None => w.to_owned(),
                }
            })
            .collect();
    }
    let known = KNOWN.read().unwrap_or_else(|e| e.into_inner());
    for k in known.iter() {
        if out.contains(k.as_str()) {
            out = out.replace(k.as_str(), MASK);
        }
    }
    out
}

/// A TOML tree with secret keys' values and URLs masked (what `check-config` prints).
pub fn toml(v: &mut toml::Value) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                match v {
                    toml::Value::String(s) if is_secret_key(k) && !s.is_empty() => {
                        *s = MASK.to_owned()
                    }
                    _ => toml(v),
                }
            }
        }
        toml::Value::Array(a) => a.iter_mut().for_each(toml),
        toml::Value::String(s) if s.contains("://") => *s = url(s),
        _ => {}
    }
}

/// Registers every secret a configuration tree holds (values under secret keys, URL parts).
pub fn register_tree(v: &toml::Value) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                match v {
                    toml::Value::String(s) if is_secret_key(k) => register(s),
                    _ => register_tree(v),
                }
            }
        }
        toml::Value::Array(a) => a.iter().for_each(register_tree),
        toml::Value::String(s) if s.contains("://") => {
            url_secrets(s).iter().for_each(|s| register(s))
        }
        _ => {}
    }
}

/// A writer that scrubs each write with [`text`]: what the log subscriber writes through.
pub struct Scrubbed<W>(pub W);

impl<W: Write> Write for Scrubbed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let s = String::from_utf8_lossy(buf);
        self.0.write_all(text(&s).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_passwords_and_query_values_and_registered_secrets_vanish_from_text() {
        assert_eq!(
            url("http://ch:s3cr3t@db:8123/x?user=a&token=t0k#f"),
            "http://ch:***@db:8123/x?user=***&token=***#f"
        );
        assert_eq!(url("https://hooks.example/a"), "https://hooks.example/a");
        assert_eq!(
            url_secrets("http://ch:s3cr3t@db:8123/?token=t0k"),
            ["s3cr3t", "t0k"]
        );
        register("hunter2-long");
        let t = text("connect to `http://u:pw@h:1/?k=v` failed (password hunter2-long)");
        assert!(
            !t.contains("pw@") && !t.contains("k=v") && !t.contains("hunter2"),
            "{t}"
        );
        assert!(t.contains("http://u:***@h:1/?k=***"), "{t}");
        for k in [
            "sasl.password",
            "ssl.key.password",
            "ssl.key.pem",
            "sasl.oauthbearer.client.secret",
            "webhook_secret",
            "API_TOKEN",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "bootstrap.servers",
            "tls_key_file",
            "ssl.key.location",
            "ssl.keystore.location",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
        let mut v: toml::Value = toml::from_str(
            "[kafka.librdkafka]\n\"sasl.password\" = \"p\"\n\"client.id\" = \"c\"\n[clickhouse]\nurl = \"http://a:b@c\"\n",
        )
        .unwrap();
        toml(&mut v);
        let s = v.to_string();
        assert!(
            s.contains("\"sasl.password\" = \"***\"")
                && s.contains("client.id")
                && s.contains("http://a:***@c"),
            "{s}"
        );
    }
}
