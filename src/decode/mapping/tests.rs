//! The presets against their fixtures, and the engine's rules on small mappings.

use super::*;

#[test]
fn every_preset_compiles_and_passes_its_fixtures() {
    for (name, _) in PRESETS {
        let m = Mapping::preset(name)
            .unwrap()
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("mappings/tests")
            .join(name);
        let diffs = fixtures::check(&m, &dir).unwrap();
        assert!(diffs.is_empty(), "{name}:\n{}", diffs.join("\n"));
    }
}

const SMALL: &str = r#"
name = "small"
envelope = ["after", ""]
[discriminator]
path = "kind"
[fields]
ts = [{ path = "at", time = "epoch_ms" }]
user_id = [{ path = "who" }]
[[variant]]
name = "a"
eq = ["1", "true"]
[variant.fields]
action = [{ const = "login" }]
"#;

fn ctx() -> InputContext {
    InputContext {
        tenant: Some("acme".into()),
        ..Default::default()
    }
}

#[test]
fn unmatched_or_incomplete_records_are_unmapped_dead_letters_naming_mapping_and_field() {
    let m = Mapping::parse(SMALL).unwrap();
    let r = m
        .decode(br#"{"kind": 2, "at": 1, "who": "u"}"#, 1 << 20, &ctx())
        .unwrap_err();
    assert_eq!(
        (r.code.to_string(), r.message.as_str()),
        ("unmapped".into(), "mapping `small`: no variant accepts `2`")
    );
    let r = m
        .decode(br#"{"after": {"kind": true, "at": 1}}"#, 1 << 20, &ctx())
        .unwrap_err();
    assert_eq!(r.message, "mapping `small`: `a` has no value for `user_id`");
    let r = m
        .decode(br#"{"kind": 1, "at": "soon", "who": "u"}"#, 1 << 20, &ctx())
        .unwrap_err();
    assert_eq!(r.code.to_string(), "bad_timestamp");
    assert_eq!(
        m.decode(b"[1]", 1 << 20, &ctx())
            .unwrap_err()
            .code
            .to_string(),
        "not_object"
    );
}

#[test]
fn a_record_keeps_what_no_source_read_and_gets_a_stable_id_and_the_input_tenant() {
    let m = Mapping::parse(SMALL).unwrap();
    let raw = br#"{"after": {"kind": 1, "at": 1767605400250, "who": "u7", "extra": {"x": 1}, "n": 3, "gone": null}}"#;
    let e = m.decode(raw, 1 << 20, &ctx()).unwrap();
    assert_eq!(
        (e.user_id.as_str(), e.action.as_str(), e.tenant.as_str()),
        ("u7", "login", "acme")
    );
    assert_eq!(crate::time::rfc3339(e.ts), "2026-01-05T09:30:00.250Z");
    assert!(
        e.event_id.starts_with("small:") && e.event_id.len() == 6 + 32,
        "{}",
        e.event_id
    );
    assert_eq!(
        m.decode(raw, 1 << 20, &ctx()).unwrap().event_id,
        e.event_id,
        "replay-safe id"
    );
    let attrs: Vec<(&str, &str)> = e
        .attributes
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        attrs,
        [("extra", r#"{"x":1}"#), ("n", "3"), ("source", "small/a")]
    );
}

#[test]
fn lint_reports_every_problem_at_once() {
    let bad = r#"
name = "bad"
[fields]
ts = [{ path = "t" }]
colour = [{ const = "red" }]
[[variant]]
name = "v"
eq = ["1"]
[variant.fields]
user_id = [{ path = "a[" }]
"#;
    let errs = Mapping::parse(bad).unwrap_err();
    let text = errs.join("\n");
    for needle in [
        "needs a `time` format",
        "`colour` is not a contract field",
        "`[` without `]`",
        "required `action`",
        "a test without a `[discriminator]`",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
}

#[test]
fn an_allowlist_keeps_only_the_unmapped_fields_it_names() {
    let m = Mapping::parse(&format!("keep = [\"n\"]\n{SMALL}")).unwrap();
    let raw = br#"{"kind": 1, "at": 1, "who": "u7", "extra": "x", "n": 3}"#;
    let e = m.decode(raw, 1 << 20, &ctx()).unwrap();
    let keys: Vec<&str> = e.attributes.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["n", "source"]);
    let dropped = Mapping::parse(&format!("unmapped = \"drop\"\n{SMALL}")).unwrap();
    let e = dropped.decode(raw, 1 << 20, &ctx()).unwrap();
    assert_eq!(e.attributes, [("source".to_owned(), "small/a".to_owned())]);
    let both = Mapping::parse(&format!("unmapped = \"drop\"\nkeep = [\"n\"]\n{SMALL}"));
    assert!(both.unwrap_err()[0].contains("`keep`"));
}

#[test]
fn a_field_another_variant_reads_is_kept_whole_and_a_repeated_key_counts_once() {
    let m = Mapping::parse(
        r#"name = "two"
[discriminator]
path = "k"
[fields]
ts = [{ path = "t", time = "epoch_s" }]
user_id = [{ path = "u" }]
[[variant]]
name = "a"
eq = ["a"]
[variant.fields]
action = [{ path = "obj.a" }, { const = "none" }]
[[variant]]
name = "b"
eq = ["b"]
[variant.fields]
action = [{ const = "view" }]
"#,
    )
    .unwrap();
    let attrs = |raw: &[u8]| {
        let e = m.decode(raw, 1 << 20, &ctx()).unwrap();
        (e.action, e.attributes)
    };
    let (action, kept) = attrs(
        br#"{"k":"b","t":1767605400,"u":"x","obj":{"z":[1,"2"],"a":"read by a"},"w":{"q":null}}"#,
    );
    assert_eq!(action, "view");
    assert_eq!(
        kept,
        [
            (
                "obj".to_owned(),
                r#"{"a":"read by a","z":[1,"2"]}"#.to_owned()
            ),
            ("source".to_owned(), "two/b".to_owned()),
            ("w".to_owned(), r#"{"q":null}"#.to_owned()),
        ]
    );
    // The last of a repeated key counts, and nothing of the earlier one is left.
    let (action, kept) =
        attrs(br#"{"k":"a","t":1767605400,"u":"x","obj":{"a":"first"},"n":1,"obj":{"b":2},"n":2}"#);
    assert_eq!(action, "none");
    assert_eq!(
        kept,
        [
            ("n".to_owned(), "2".to_owned()),
            ("source".to_owned(), "two/a".to_owned())
        ]
    );
    let (action, _) =
        attrs(br#"{"k":"a","t":1767605400,"u":"x","obj":{"b":2},"obj":{"a":"last"}}"#);
    assert_eq!(action, "last");
    // The discriminator twice: the last one chooses, and what the first one's variant read is kept.
    let (action, kept) = attrs(br#"{"k":"a","t":1767605400,"u":"x","obj":{"a":"x"},"k":"b"}"#);
    assert_eq!(action, "view");
    assert_eq!(kept[0], ("obj".to_owned(), r#"{"a":"x"}"#.to_owned()));
}

#[test]
fn literal_regex_tests_match_as_the_regex_does() {
    let keys = [
        "/event/LoginEventStream",
        "LoginEventStream",
        "/event/LoginEventStreamX",
        "/event/BulkApiResultEvent",
        "BulkApiResultEventStore",
        "login",
        "",
    ];
    let patterns = [
        "LoginEventStream$",
        "BulkApiResultEvent",
        "^Login",
        "Login.Stream$",
        "(?i)login$",
        "Stream$$",
        "",
    ];
    let mut literal = 0;
    for p in patterns {
        let re = regex::Regex::new(p).unwrap();
        if let Some(t) = super::compile::literal_test(p) {
            literal += 1;
            for k in keys {
                assert_eq!(t.accepts(Some(k)), re.is_match(k), "{p:?} on {k:?}");
            }
        }
    }
    assert_eq!(literal, 2, "the two plain literals take the string test");
}
