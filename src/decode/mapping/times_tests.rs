//! The time formats: what each reads, and the fast path held to chrono's verdicts.

use rand::{Rng, SeedableRng};

use super::*;

fn t(s: &str, f: TimeFormat, tz: &str) -> String {
    parse_time(s, f, tz.parse().unwrap())
        .map(crate::time::rfc3339)
        .unwrap_or_default()
}

#[test]
fn crm_times_are_read_as_utc() {
    let z = "2026-01-05T09:30:00.250Z";
    assert_eq!(t("2026-01-05T09:30:00.250Z", TimeFormat::Rfc3339, "UTC"), z);
    assert_eq!(
        t("2026-01-05T09:30:00.250+0000", TimeFormat::Auto, "UTC"),
        z
    );
    assert_eq!(
        t("2026-01-05T10:30:00.250+01:00", TimeFormat::Auto, "UTC"),
        z
    );
    assert_eq!(t("1767605400250", TimeFormat::EpochMs, "UTC"), z);
    assert_eq!(t("1767605400250", TimeFormat::Auto, "UTC"), z);
    assert_eq!(
        t("1767605400", TimeFormat::EpochS, "UTC"),
        "2026-01-05T09:30:00.000Z"
    );
    assert_eq!(t("20260105093000.250", TimeFormat::Compact, "UTC"), z);
    // Debezium's MySQL DATETIME: 10:30:00.250 Shanghai wall time written as if it were UTC.
    assert_eq!(
        t("1767609000250", TimeFormat::EpochMsLocal, "Asia/Shanghai"),
        "2026-01-05T02:30:00.250Z"
    );
    // No offset: the input's timezone.
    assert_eq!(
        t("2026-01-05T10:30:00.250", TimeFormat::Auto, "Europe/Berlin"),
        z
    );
    assert_eq!(t("2026-01-05 09:30:00.250", TimeFormat::Auto, "UTC"), z);
    assert_eq!(t("yesterday", TimeFormat::Auto, "UTC"), "");
    assert_eq!(t("1767605400", TimeFormat::Rfc3339, "UTC"), "");
}

/// Near-valid and valid ISO times, from parts each of which is sometimes wrong: each part's
/// first options are well-formed and taken three times in four.
fn candidates() -> Vec<String> {
    let well_formed = [4, 3, 5, 2, 3, 3, 2, 4, 8];
    let parts: [&[&str]; 9] = [
        &["2026", "0000", "1970", "9999", "202", "20261", "+2026"],
        &["-01", "-02", "-12", "-13", "-00", "-1", "/01"],
        &["-05", "-28", "-29", "-30", "-31", "-00", "-5"],
        &["T", " ", "t", "_", ""],
        &["09", "00", "23", "24", "9", "ab"],
        &[":30", ":00", ":59", ":60", ":3"],
        &[":00", ":59", ":60", ":61", ":5", ""],
        &[
            "",
            ".250",
            ".2",
            ".123456789",
            ".1234567891",
            ".",
            ".25x",
            ",250",
        ],
        &[
            "",
            "Z",
            "z",
            "+0000",
            "+00:00",
            "-00:00",
            "-05:30",
            "+23:59",
            "+2400",
            "+0960",
            " +0100",
            "+01",
            "+1:00",
            "+01:00:00",
            "UTC",
            "Zz",
            " ",
            "+05:30 ",
        ],
    ];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    (0..60_000)
        .map(|_| {
            parts
                .iter()
                .zip(well_formed)
                .map(|(p, ok)| {
                    let n = if rng.gen_bool(0.75) { ok } else { p.len() };
                    p[rng.gen_range(0..n)]
                })
                .collect::<String>()
        })
        .collect()
}

#[test]
fn the_fast_path_gives_what_chrono_gives() {
    let tz: Tz = "Europe/Berlin".parse().unwrap();
    let mut fast = 0;
    for s in candidates() {
        for f in [TimeFormat::Auto, TimeFormat::Rfc3339] {
            let chrono = chrono_iso(s.trim(), f, tz);
            assert_eq!(parse_time(&s, f, tz), chrono, "{s:?} read as {f:?}");
        }
        if let Some(i) = iso(s.trim()) {
            fast += 1;
            let utc = match i {
                Iso::Offset(t) => Some(t.with_timezone(&Utc)),
                Iso::Naive(n) => in_zone(tz, n),
            };
            assert_eq!(utc, chrono_iso(s.trim(), TimeFormat::Rfc3339, tz), "{s:?}");
        }
    }
    // The parts are mostly right, so a share of the candidates is valid: the path is exercised.
    assert!(fast > 5_000, "only {fast} candidates took the fast path");
}
