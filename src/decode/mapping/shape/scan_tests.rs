//! The fast path against the serde parse: the presets' fixtures, every one-byte change of them,
//! and what it leaves to serde.

use super::super::super::{text, Mapping, PRESETS};
use super::*;

/// Where the fast path accepts, the serde parse gives the same; both on `raw`.
fn same(m: &Mapping, raw: &str) -> bool {
    let choose = |n: &Node<'_>| {
        let key = text(n)?;
        m.variants.iter().position(|v| v.test.accepts(Some(&key)))
    };
    for choose in [None, Some(&choose as Choose)] {
        let Some(fast) = parse(&m.shape, raw, choose) else {
            return false;
        };
        match m.shape.parse_serde(raw, choose) {
            Ok(slow) => assert_eq!(fast, slow, "{}: {raw}", m.name),
            Err(e) => panic!(
                "{}: the fast path took what serde rejects ({e}): {raw}",
                m.name
            ),
        }
    }
    true
}

#[test]
fn the_fast_path_reads_every_preset_record_as_serde_does_and_takes_the_plain_ones() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/tests");
    let (mut records, mut taken, mut mutants, mut mutants_taken) = (0, 0, 0, 0);
    for (name, _) in PRESETS {
        let m = Mapping::preset(name).unwrap().unwrap();
        let input = std::fs::read_to_string(root.join(name).join("input.jsonl")).unwrap();
        for rec in input.lines().filter(|l| !l.trim().is_empty()) {
            records += 1;
            taken += usize::from(same(&m, rec));
            // Every one-byte change: deleted, or a JSON-significant byte put before it.
            let b = rec.as_bytes();
            for i in 0..b.len() {
                let mut cut = b.to_vec();
                cut.remove(i);
                for ins in *b"\"\\,:{]0-e. \t\x01" {
                    let mut put = b.to_vec();
                    put.insert(i, ins);
                    for text in [&cut, &put] {
                        if let Ok(t) = std::str::from_utf8(text) {
                            mutants += 1;
                            mutants_taken += usize::from(same(&m, t));
                        }
                    }
                }
            }
        }
    }
    assert!(
        taken * 10 >= records * 9,
        "{taken} of {records} records taken"
    );
    assert!(
        mutants_taken > 0 && mutants_taken < mutants,
        "{mutants_taken} of {mutants}"
    );
}

#[test]
fn the_eight_byte_search_finds_the_first_quote_escape_or_control_character() {
    let slow = |s: &[u8]| s.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
    let bytes = [
        b'a', b'"', b'\\', 0x1f, 0x20, 0x00, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xff, 0xa2, 0x9f,
    ];
    let mut seed = 7u64;
    for len in 0..40 {
        for _ in 0..300 {
            let s: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    bytes[(seed >> 33) as usize % bytes.len()]
                })
                .collect();
            assert_eq!(plain(&s), slow(&s), "{s:?}");
        }
    }
}

#[test]
fn repeated_keys_escapes_floats_and_depth_go_to_serde() {
    let m = Mapping::preset("ocsf").unwrap().unwrap();
    let deep = format!("{}1{}", "[".repeat(120), "]".repeat(120));
    for raw in [
        r#"{"class_uid":3002,"class_uid":6001}"#,
        r#"{"actor":{"user":{"uid":"a\u0041"}}}"#,
        r#"{"actor":1.5}"#,
        deep.as_str(),
        "{\"actor\":\"a\tb\"}",
    ] {
        assert!(parse(&m.shape, raw, None).is_none(), "{raw}");
    }
    for raw in [
        r#"{"a":1}"#,
        r#" [ ] "#,
        r#"{"x":{"y":[1,-2,true,null,"s",{}]}}"#,
    ] {
        assert!(same(&m, raw), "{raw}");
    }
    for bad in [r#"{"a":1,}"#, "[01]", "{\"a\":-}", "[1 2]", "tru", "{} {}"] {
        assert!(parse(&m.shape, bad, None).is_none(), "{bad}");
    }
}
