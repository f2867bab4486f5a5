//! TLS on every hop, with certificates made by the test (rcgen: a private CA and a server certificate
//! for 127.0.0.1/localhost): the API over HTTPS (and no answer over plain HTTP on its port), a
//! ClickHouse `https_port` reached with `[clickhouse] ca_file` (and refused with a certificate error
//! without it), the TLS settings' validation, and librdkafka built with TLS/SASL.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A private CA and a server certificate it signed, as PEM files in `dir`.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "custos test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut leaf =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = leaf.signed_by(&key, &issuer).unwrap();
        let pki = Pki {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        };
        std::fs::write(&pki.ca, ca_cert.pem()).unwrap();
        std::fs::write(&pki.cert, cert.pem()).unwrap();
        std::fs::write(&pki.key, key.serialize_pem()).unwrap();
        pki
    }

    fn reqwest_ca(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_pem(&std::fs::read(&self.ca).unwrap()).unwrap()
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A running `custos api`, stopped (SIGTERM, then SIGKILL after 15 s) when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        sigterm(&self.0);
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.0.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `custos api` (logging to `log`), returns it with its bound address and scheme once it
/// listens.
fn start_api(env: &TestEnv, log: &Path) -> (Running, String, String) {
    let child = Running(
        env.custos(&["api"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("API listening")) {
            let field = |name: &str| {
                line.split(&format!("{name}="))
                    .nth(1)
                    .and_then(|v| v.split_whitespace().next())
                    .unwrap_or_default()
                    .to_owned()
            };
            return (child, field("addr"), field("scheme"));
        }
        assert!(
            Instant::now() < deadline,
            "custos api did not start:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop(api: Running) {
    drop(api);
}

#[test]
fn the_api_serves_https_with_the_configured_certificate_and_nothing_over_plain_http() {
    if skip_without_servers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let env = TestEnv::new(&ch_url(), &api_tls(&pki, ""));
    let log = env.path("api.log");
    let (child, addr, scheme) = start_api(&env, &log);
    assert_eq!(scheme, "https");
    let https = reqwest::blocking::Client::builder()
        .add_root_certificate(pki.reqwest_ca())
        .tls_built_in_root_certs(false)
        .build()
        .unwrap();
    for host in [addr.clone(), addr.replace("127.0.0.1", "localhost")] {
        let r = https.get(format!("https://{host}/healthz")).send();
        let r = r.unwrap_or_else(|e| panic!("https://{host}/healthz: {e:?}"));
        assert_eq!(r.status(), 200, "https://{host}/healthz");
    }
    // Plain HTTP on the HTTPS port gets no answer worth the name.
    let plain = reqwest::blocking::get(format!("http://{addr}/healthz"));
    assert!(
        plain.as_ref().map_or(true, |r| r.status() != 200),
        "plain HTTP was answered: {plain:?}"
    );
    // A client that does not trust the CA is refused.
    let untrusting = reqwest::blocking::Client::builder()
        .tls_built_in_root_certs(false)
        .build()
        .unwrap()
        .get(format!("https://{addr}/healthz"))
        .send();
    assert!(untrusting.is_err(), "{untrusting:?}");
    stop(child);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("panicked"), "{text}");
    assert!(!text.contains("plain HTTP"), "{text}");
}

/// The `[api]` section serving `pki`'s certificate on a free port, with `extra` lines.
fn api_tls(pki: &Pki, extra: &str) -> String {
    format!(
        "[api]\nlisten = \"127.0.0.1:0\"\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n{extra}",
        s(&pki.cert),
        s(&pki.key)
    )
}

#[test]
fn a_client_that_never_starts_its_handshake_holds_a_slot_only_until_the_header_read_timeout() {
    if skip_without_servers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let env = TestEnv::new(
        &ch_url(),
        &api_tls(&pki, "max_connections = 1\nheader_read_timeout_secs = 3\n"),
    );
    let log = env.path("api.log");
    let (child, addr, _) = start_api(&env, &log);
    let get = || {
        reqwest::blocking::Client::builder()
            .add_root_certificate(pki.reqwest_ca())
            .build()
            .unwrap()
            .get(format!("https://{addr}/healthz"))
            .send()
    };
    // The one slot, taken by a connection that sends nothing: others are closed at accept …
    let silent = std::net::TcpStream::connect(&addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let refused = get();
    assert!(refused.is_err(), "the slot was free: {refused:?}");
    // … until the handshake's time is up.
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(get().unwrap().status(), 200);
    drop(silent);
    stop(child);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("API connection limit reached"), "{text}");
}

#[test]
fn plain_http_on_a_non_loopback_address_is_warned_about() {
    if skip_without_servers() {
        return;
    }
    let env = TestEnv::new(&ch_url(), "[api]\nlisten = \"0.0.0.0:0\"\n");
    let log = env.path("api.log");
    let (child, _, scheme) = start_api(&env, &log);
    assert_eq!(scheme, "http");
    stop(child);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains("WARN") && l.contains("plain HTTP on a non-loopback address")),
        "{text}"
    );
}

/// Two events for a replay.
fn events(env: &TestEnv) -> PathBuf {
    let p = env.path("events.jsonl");
    let lines = [
        event("tls-1", "alice", "2026-01-06T10:00:00Z", "view", 1),
        event("tls-2", "bob", "2026-01-06T10:05:00Z", "export", 3),
    ];
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p
}

#[test]
fn clickhouse_over_https_with_a_private_ca() {
    if skip_without_servers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let ch = ClickHouseProcess::new(dir.path());
    let https_port = free_port().to_string();
    ch.start_with(&[
        ("CLICKHOUSE_HTTPS_PORT", https_port.as_str()),
        ("CLICKHOUSE_TLS_CERT", s(&pki.cert)),
        ("CLICKHOUSE_TLS_KEY", s(&pki.key)),
    ]);
    let https = format!("https://127.0.0.1:{https_port}");
    let env = TestEnv::new(&https, "");
    let input = events(&env);
    let out = env
        .custos(&["replay", "--input", s(&input)])
        .env("CUSTOS_CLICKHOUSE_CA_FILE", &pki.ca)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "replay over https:\n{printed}");
    assert!(!printed.contains("panicked"), "{printed}");
    // Read back over the same server's plain-HTTP port.
    assert_eq!(
        sql_u64(&ch.url(), &env.db, "SELECT count() FROM events"),
        2,
        "the events arrived over https"
    );
    // Without the CA: the server's certificate is not trusted, a clear error, no panic.
    let out = env
        .custos(&["migrate"])
        .env("CUSTOS_CLICKHOUSE_GIVE_UP_AFTER_SECS", "1")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{printed}");
    assert!(!printed.contains("panicked"), "{printed}");
    assert!(
        printed.contains("certificate") && printed.contains("UnknownIssuer"),
        "no certificate error in:\n{printed}"
    );
    // `check-config --probe` says the same, and with the CA: ok.
    let probe = |ca: Option<&Path>| {
        let mut c = env.custos(&["check-config", "--probe"]);
        if let Some(ca) = ca {
            c.env("CUSTOS_CLICKHOUSE_CA_FILE", ca);
        }
        String::from_utf8_lossy(&c.output().unwrap().stdout).into_owned()
    };
    let printed = probe(None);
    assert!(
        printed.lines().any(|l| l.starts_with("FAILED clickhouse")
            && l.contains("invalid peer certificate: UnknownIssuer")),
        "{printed}"
    );
    let printed = probe(Some(&pki.ca));
    assert!(printed.contains("ok     clickhouse"), "{printed}");
    assert!(
        printed.contains(&format!("ca_file = \"{}\"", s(&pki.ca))),
        "{printed}"
    );
}

#[test]
fn tls_settings_are_validated_at_load_naming_each_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let check = |toml: &str| {
        let cfg = dir.path().join("c.toml");
        std::fs::write(&cfg, toml).unwrap();
        let out = std::process::Command::new(CUSTOS)
            .args(["check-config", "--config", s(&cfg)])
            .output()
            .unwrap();
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    // Valid: the paths are printed as they are (a path is not a secret).
    let (code, out) = check(&format!(
        "[clickhouse]\nurl = \"https://ch.example:8443\"\nca_file = \"{}\"\n[api]\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
        s(&pki.ca),
        s(&pki.cert),
        s(&pki.key)
    ));
    assert_eq!(code, Some(0), "{out}");
    for shown in [&pki.ca, &pki.cert, &pki.key] {
        assert!(out.contains(s(shown)), "{} not shown:\n{out}", s(shown));
    }
    // Every problem at once, each naming its file.
    let missing = dir.path().join("missing.pem");
    let (code, out) = check(&format!(
        "[clickhouse]\nurl = \"http://127.0.0.1:8123\"\nca_file = \"{}\"\n[api]\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
        s(&garbage),
        s(&missing),
        s(&pki.ca)
    ));
    assert_eq!(code, Some(2), "{out}");
    for needle in [
        "[clickhouse] ca_file: set, but url is not https://".to_owned(),
        format!(
            "[clickhouse] ca_file: `{}`: holds no PEM certificate",
            s(&garbage)
        ),
        format!("[api] tls_cert_file: `{}`: cannot read", s(&missing)),
        format!(
            "[api] tls_key_file: `{}`: holds no PEM private key",
            s(&pki.ca)
        ),
    ] {
        assert!(out.contains(&needle), "missing {needle:?} in:\n{out}");
    }
    assert!(!out.contains("panicked"), "{out}");
    // One without the other; a key that is not the certificate's.
    let (code, out) = check(&format!("[api]\ntls_cert_file = \"{}\"\n", s(&pki.cert)));
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("[api] tls_cert_file, tls_key_file: set both"),
        "{out}"
    );
    let stranger = dir.path().join("stranger.key");
    std::fs::write(
        &stranger,
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    let (code, out) = check(&format!(
        "[api]\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
        s(&pki.cert),
        s(&stranger)
    ));
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains(&format!(
            "[api] tls_key_file: `{}` is not a usable key for the certificate of `{}`",
            s(&stranger),
            s(&pki.cert)
        )),
        "{out}"
    );
    assert!(!out.contains("BEGIN PRIVATE KEY"), "{out}");
}

#[test]
fn kafka_tls_and_sasl_are_built_in() {
    // Without librdkafka's `ssl` build these are refused ("Unsupported value ... for configuration
    // property security.protocol: OpenSSL not available at build time").
    use rdkafka::consumer::BaseConsumer;
    for (protocol, extra) in [
        ("SSL", vec![]),
        (
            "SASL_SSL",
            vec![
                ("sasl.mechanism", "SCRAM-SHA-512"),
                ("sasl.username", "custos"),
                ("sasl.password", "pw"),
            ],
        ),
    ] {
        let mut cfg = custos::config::KafkaConfig::default();
        cfg.librdkafka
            .insert("security.protocol".into(), protocol.into());
        for (k, v) in extra {
            cfg.librdkafka.insert(k.into(), v.into());
        }
        let built = custos::source::kafka::client_config(&cfg).create::<BaseConsumer>();
        assert!(built.is_ok(), "{protocol}: {:?}", built.err());
    }
}
