//! `custos gen` streams: any number of users and events in bounded memory (a simulated day is drawn
//! one event at a time, not built up front). Needs no server.

use crate::common;

use std::process::Command;

/// Peak resident memory of this process's waited-for children, in KiB (each test is its own process
/// under nextest).
fn children_peak_rss_kib() -> i64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) },
        0
    );
    ru.ru_maxrss
}

#[test]
fn gen_of_300k_users_stays_under_200_mib() {
    let dir = tempfile::tempdir().unwrap();
    let (ev, users) = (
        dir.path().join("ev.jsonl.gz"),
        dir.path().join("dir.jsonl.gz"),
    );
    let status = Command::new(common::CUSTOS)
        .args(["gen", "--users", "300000", "--count", "400000", "--events"])
        .arg(&ev)
        .arg("--directory")
        .arg(&users)
        .env_remove("CUSTOS_CONFIG")
        .status()
        .unwrap();
    assert!(status.success());
    let peak = children_peak_rss_kib();
    // Built up front, one day of 300k users held ~6 M events as JSON values (several GB).
    assert!(
        peak < 200 * 1024,
        "custos gen peaked at {} MiB",
        peak / 1024
    );
    let lines = |p: &std::path::Path| {
        use std::io::BufRead;
        let f = std::fs::File::open(p).unwrap();
        std::io::BufReader::new(flate2::read::GzDecoder::new(f))
            .lines()
            .count()
    };
    assert_eq!(lines(&ev), 400_000);
    assert_eq!(lines(&users), 300_001); // and the departed employee's termination
}
