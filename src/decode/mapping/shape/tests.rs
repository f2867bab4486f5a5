//! The shape's parse: borrowed leaves read like parsed values, paths filled, the rest skipped.

use super::super::tree::parse_path;
use super::super::value::text;
use super::*;

#[test]
fn a_borrowed_leaf_reads_like_the_parsed_value() {
    for raw in [
        "12",
        "-3",
        "-0",
        "0",
        "1.5",
        "1e3",
        "9999999999999999999",
        "18446744073709551615",
        "99999999999999999999",
        "-9223372036854775808",
        "-99999999999999999999",
        r#""plain""#,
        r#""a\nb""#,
        r#""é""#,
        "[1,\"2\"]",
        r#"{"b":1,"a":2}"#,
        "true",
        "null",
    ] {
        let (fast, full) = (leaf(raw).unwrap(), Node::parse(raw).unwrap());
        assert_eq!(fast.to_string(), full.to_string(), "{raw}");
        assert_eq!(text(&fast), text(&full), "{raw}");
    }
}

#[test]
fn the_parse_fills_the_paths_and_skips_the_rest() {
    let mut shape = Shape::default();
    let root = shape.add_root(&[]);
    let p = |s: &str| parse_path(s).unwrap();
    shape.add_leaf(root, &p("a.b[1]"));
    shape.add_leaf(root, &p("c"));
    let top = At {
        node: 0,
        rest: Vec::new(),
    };
    let rec = shape
        .parse(
            r#"{"a":{"b":[0,{"x":[7]}],"skip":{"deep":[1,2]}},"c":"v","d":[{}]}"#,
            None,
        )
        .unwrap();
    let at = |s: &str| shape.at(&top, &p(s));
    assert_eq!(rec.value(&at("c")), Some(&Node::Str(Cow::Borrowed("v"))));
    assert_eq!(rec.value(&at("a.b[1].x[0]")), Some(&Node::U64(7)));
    assert!(rec.is_object(&at("a")));
    assert!(!rec.is_object(&at("c")));
    assert!(shape.parse(r#"{"a":1} x"#, None).is_err());
    assert!(
        shape.parse(r#"{"a":{"skip":[1,}}"#, None).is_err(),
        "skipped values are still checked"
    );
}
