//! The redactor's actions on events and text: documented mask shapes, keyed tokens equal to
//! `token()`, drops, named fields, dead-letter bytes, and identity fields left alone.

use super::*;
use crate::config::privacy::{PrivacyField, PrivacyRule};
use crate::config::Secret;

fn redactor(action: PrivacyAction) -> Redactor {
    Redactor::build(&PrivacyConfig {
        action,
        key: Secret::new("a-privacy-key-of-32-characters!!"),
        rule: vec![PrivacyRule {
            name: "order".into(),
            regex: r"ORD-\d{6}".into(),
            validator: None,
            action: Some(PrivacyAction::Drop),
        }],
        field: vec![PrivacyField {
            path: "attributes.customer_name".into(),
            action: None,
        }],
        ..Default::default()
    })
    .unwrap()
    .unwrap()
}

fn event() -> Event {
    let mut e = crate::decode::decode_event(
        br#"{"event_id":"e1","ts":"2026-01-06T10:00:00Z","user_id":"13812345678","action":"view","ip":"81.2.69.142","user_agent":"Mozilla/5.0 (contact li.lei@example.com)"}"#,
        1 << 20,
    )
    .unwrap();
    e.attributes = vec![
        ("note".into(), "call 138-1234-5678 or 13912345678, id 11010519491231002X, card 4111111111111111, mail li.lei@example.com, ORD-123456".into()),
        ("customer_name".into(), "李雷".into()),
        ("count".into(), "1500".into()),
    ];
    e
}

#[test]
fn masks_keep_a_short_prefix_and_suffix_and_nothing_else() {
    let r = redactor(PrivacyAction::Mask);
    let mut e = event();
    r.event(&mut e);
    let note = &e.attributes.iter().find(|(k, _)| k == "note").unwrap().1;
    assert_eq!(
        note,
        "call 138****5678 or 139****5678, id 110105********002X, card 411111******1111, mail l***@example.com, "
    );
    assert_eq!(
        e.attributes
            .iter()
            .find(|(k, _)| k == "customer_name")
            .unwrap()
            .1,
        "**"
    );
    assert_eq!(
        e.attributes.iter().find(|(k, _)| k == "count").unwrap().1,
        "1500"
    );
    assert_eq!(e.user_agent, "Mozilla/5.0 (contact l***@example.com)");
    assert_eq!(
        e.user_id, "13812345678",
        "identity fields are never rewritten"
    );
    assert_eq!(e.ip.unwrap().to_string(), "81.2.69.142");
}

#[test]
fn hashes_are_keyed_tokens_that_token_gives_back_for_any_spelling() {
    let r = redactor(PrivacyAction::Hash);
    let mut e = event();
    r.event(&mut e);
    let note = &e.attributes.iter().find(|(k, _)| k == "note").unwrap().1;
    let phone = r.token("13812345678").unwrap();
    assert!(phone.starts_with("hmac:") && phone.len() == 5 + 64);
    assert_eq!(
        note.matches(&phone).count(),
        1,
        "138-1234-5678 is the same number: {note}"
    );
    assert_eq!(r.token("138 1234 5678").unwrap(), phone);
    assert!(
        note.contains(&r.token("LI.LEI@example.com").unwrap()),
        "{note}"
    );
    assert!(
        !note.contains("13912345678")
            && !note.contains("4111111111111111")
            && !note.contains("ORD-")
    );
    // Another key, another token: an unkeyed hash of 11 digits is found by trying them all.
    let other = Redactor::build(&PrivacyConfig {
        key: Secret::new("another-key-0123456789"),
        ..Default::default()
    })
    .unwrap()
    .unwrap();
    assert_ne!(other.token("13812345678"), Some(phone));
}

#[test]
fn dead_letter_text_is_scanned_and_other_bytes_kept() {
    let r = redactor(PrivacyAction::Mask);
    assert_eq!(
        r.bytes(b"{broken 13812345678".to_vec()),
        b"{broken 138****5678".to_vec()
    );
    let binary = vec![0xff, 0xfe, b'1', b'3'];
    assert_eq!(r.bytes(binary.clone()), binary);
    assert!(matches!(r.text("nothing here 12345"), Cow::Borrowed(_)));
    assert!(Redactor::build(&PrivacyConfig {
        enabled: false,
        ..Default::default()
    })
    .unwrap()
    .is_none());
}
