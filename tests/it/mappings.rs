//! `custos replay --format`: the same incidents written as custos' own events and in each preset's
//! format (Salesforce RTEM streams and Event Log Files, OCSF, Dynamics 365, WukongCRM) raise the same alerts in ClickHouse; a record no
//! mapping variant accepts is kept as an `unmapped` dead letter.

use crate::common;

use common::*;

const DIRECTORY: &str = r#"{"user_id":"ana","status":"active","timezone":"Europe/Berlin","work_hours":"09:00-17:00","work_days":"Mon-Fri"}
{"user_id":"bob","status":"terminated","effective_ts":"2026-01-01T00:00:00Z","timezone":"Europe/Berlin"}"#;

/// Ana logs in at 03:14 Berlin time, runs one 600-row report export that arrives in two chunks
/// (counted twice it would cross the 1,000-row threshold), then bulk-exports 6,000 contacts at
/// 10:00; Bob, who left on 1 January, views a list. The last record is of a kind no mapping reads.
const NATIVE: &str = r#"{"event_id":"n1","ts":"2026-01-06T02:14:07Z","user_id":"ana","action":"login","outcome":"success","ip":"81.2.69.142"}
{"event_id":"n2","ts":"2026-01-06T09:00:00Z","user_id":"ana","action":"export","object_type":"Contact","record_count":600}
{"event_id":"n2","ts":"2026-01-06T09:00:00Z","user_id":"ana","action":"export","object_type":"Contact","record_count":600}
{"event_id":"n4","ts":"2026-01-06T10:00:00Z","user_id":"ana","action":"export","object_type":"Contact","record_count":6000}
{"event_id":"n5","ts":"2026-01-06T11:00:00Z","user_id":"bob","action":"view","object_type":"Account"}"#;

const SALESFORCE: &str = r#"{"channel":"/event/LoginEventStream","data":{"event":{"replayId":1},"payload":{"EventIdentifier":"s1","EventDate":"2026-01-06T02:14:07.000+0000","UserId":"ana","Status":"Success","SourceIp":"81.2.69.142","Browser":"Chrome"}}}
{"channel":"/event/ReportEventStream","data":{"event":{"replayId":2},"payload":{"EventIdentifier":"s2a","ExecutionIdentifier":"x-1","EventDate":"2026-01-06T09:00:00.000+0000","UserId":"ana","Operation":"ReportExported","RowsProcessed":600,"QueriedEntities":"Contact"}}}
{"channel":"/event/ReportEventStream","data":{"event":{"replayId":3},"payload":{"EventIdentifier":"s2b","ExecutionIdentifier":"x-1","EventDate":"2026-01-06T09:00:00.000+0000","UserId":"ana","Operation":"ReportExported","RowsProcessed":600,"QueriedEntities":"Contact"}}}
{"channel":"/event/BulkApiResultEventStore","data":{"event":{"replayId":4},"payload":{"EventIdentifier":"s3","EventDate":1767693600000,"UserId":"ana","RowsProcessed":6000,"Query":"SELECT Id FROM Contact"}}}
{"channel":"/event/ListViewEventStream","data":{"event":{"replayId":5},"payload":{"EventIdentifier":"s4","EventDate":"2026-01-06T11:00:00.000+0000","UserId":"bob","EventSource":"Account"}}}
{"channel":"/event/MobileEmailEvent","data":{"event":{"replayId":6},"payload":{"EventIdentifier":"s5","EventDate":"2026-01-06T11:00:00.000+0000","UserId":"bob"}}}"#;

const OCSF: &str = r#"{"class_uid":3002,"activity_id":1,"status_id":1,"time":1767665647000,"metadata":{"uid":"o1"},"user":{"uid":"ana"},"src_endpoint":{"ip":"81.2.69.142"}}
{"class_uid":6001,"activity_id":7,"time":1767690000000,"metadata":{"uid":"o2"},"actor":{"user":{"uid":"ana"}},"web_resources":[{"type":"Contact","data":{"record_count":600}}]}
{"class_uid":6001,"activity_id":7,"time":1767690000000,"metadata":{"uid":"o2"},"actor":{"user":{"uid":"ana"}},"web_resources":[{"type":"Contact","data":{"record_count":600}}]}
{"class_uid":6001,"activity_id":7,"time":"2026-01-06T10:00:00Z","metadata":{"uid":"o3"},"actor":{"user":{"uid":"ana"}},"web_resources":[{"type":"Contact","data":{"record_count":6000}}]}
{"class_uid":6001,"activity_id":2,"time":1767697200000,"metadata":{"uid":"o4"},"actor":{"user":{"uid":"bob"}},"web_resources":[{"type":"Account"}]}
{"class_uid":4001,"activity_id":6,"time":1767697200000,"metadata":{"uid":"o5"}}"#;

/// Salesforce Event Log File rows: no row id, so the 600-row export read from both the hourly and
/// the daily file is one event (its id a hash of the row); the last row is an event type no
/// variant reads.
const ELF: &str = r#"{"EVENT_TYPE":"Login","TIMESTAMP_DERIVED":"2026-01-06T02:14:07.000Z","USER_ID_DERIVED":"ana","SOURCE_IP":"81.2.69.142","LOGIN_STATUS":"LOGIN_NO_ERROR","BROWSER_TYPE":"Chrome"}
{"EVENT_TYPE":"ReportExport","TIMESTAMP_DERIVED":"2026-01-06T09:00:00.000Z","USER_ID_DERIVED":"ana","ROW_COUNT":"600","ENTITY_NAME":"Contact","REPORT_ID_DERIVED":"00O1"}
{"EVENT_TYPE":"ReportExport","TIMESTAMP_DERIVED":"2026-01-06T09:00:00.000Z","USER_ID_DERIVED":"ana","ROW_COUNT":"600","ENTITY_NAME":"Contact","REPORT_ID_DERIVED":"00O1"}
{"EVENT_TYPE":"ReportExport","TIMESTAMP":"20260106100000.000","USER_ID":"ana","ROW_COUNT":"6000","ENTITY_NAME":"Contact","REPORT_ID_DERIVED":"00O2"}
{"EVENT_TYPE":"URI","TIMESTAMP_DERIVED":"2026-01-06T11:00:00.000Z","USER_ID_DERIVED":"bob","URI":"/lightning/o/Account/list","ENTITY_NAME":"Account"}
{"EVENT_TYPE":"ApexExecution","TIMESTAMP_DERIVED":"2026-01-06T11:00:00.000Z","USER_ID_DERIVED":"bob"}"#;

/// Dynamics 365 in the Purview audit log (the sign-in is Entra ID's, from the same feed), the 600-row
/// export delivered twice (one `Id`), the 6,000 rows as 6,000 ids in `QueryResults`.
fn m365() -> String {
    let ids = |n: usize| {
        (0..n)
            .map(|i| format!("c{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    [
        r#"{"Id":"m1","CreationTime":"2026-01-06T02:14:07","Workload":"AzureActiveDirectory","RecordType":15,"Operation":"UserLoggedIn","UserId":"ana","ClientIP":"81.2.69.142","ResultStatus":"Success"}"#.to_owned(),
        format!(r#"{{"Id":"m2","CreationTime":"2026-01-06T09:00:00","Workload":"CRM","Message":"ExportToExcel","UserId":"ana","EntityName":"contact","QueryResults":"{}"}}"#, ids(600)),
        format!(r#"{{"Id":"m2","CreationTime":"2026-01-06T09:00:00","Workload":"CRM","Message":"ExportToExcel","UserId":"ana","EntityName":"contact","QueryResults":"{}"}}"#, ids(600)),
        format!(r#"{{"Id":"m3","CreationTime":"2026-01-06T10:00:00","Workload":"CRM","Message":"ExportToExcel","UserId":"ana","EntityName":"contact","QueryResults":"{}"}}"#, ids(6000)),
        r#"{"Id":"m4","CreationTime":"2026-01-06T11:00:00","Workload":"CRM","Message":"RetrieveMultiple","UserId":"bob","EntityName":"account","QueryResults":"a1"}"#.to_owned(),
        r#"{"Id":"m5","CreationTime":"2026-01-06T11:00:00","Workload":"Exchange","Operation":"Send","UserId":"bob"}"#.to_owned(),
    ]
    .join("\n")
}

/// WukongCRM through Debezium, times as Shanghai wall time (UTC+8): 10:14:07 is 02:14:07Z.
const WUKONG: &str = r#"{"after":{"log_id":1,"create_user_id":"ana","login_time":1767694447000,"ip_address":"81.2.69.142","auth_result":1},"source":{"table":"wk_admin_login_log"},"op":"c"}
{"after":{"id":2,"create_user_id":"ana","create_time":1767718800000,"types":3,"behavior":7,"detail":"导出了600条联系人"},"source":{"table":"wk_crm_action_record"},"op":"c"}
{"after":{"id":2,"create_user_id":"ana","create_time":1767718800000,"types":3,"behavior":7,"detail":"导出了600条联系人"},"source":{"table":"wk_crm_action_record"},"op":"r"}
{"payload":{"after":{"id":3,"create_user_id":"ana","create_time":1767722400000,"types":3,"behavior":7,"detail":"导出了6000条联系人"},"source":{"table":"wk_crm_action_record"},"op":"c"}}
{"after":{"id":4,"create_user_id":"bob","create_time":1767726000000,"types":2,"behavior":2,"detail":"编辑了客户"},"source":{"table":"wk_crm_action_record"},"op":"c"}
{"after":{"id":5},"source":{"table":"wk_crm_customer"},"op":"c"}"#;

/// Replays `events` as `format` into a fresh database; (alerts as `detector user ts`, dead letters).
fn alerts_of(format: &str, events: &str, extra: &[&str]) -> (Vec<String>, String) {
    let env = TestEnv::new(&ch_url(), "");
    std::fs::write(env.path("dir.jsonl"), DIRECTORY).unwrap();
    std::fs::write(env.path("in.jsonl"), events).unwrap();
    let (input, dir) = (env.path("in.jsonl"), env.path("dir.jsonl"));
    let mut args = vec![
        "replay",
        "--input",
        input.to_str().unwrap(),
        "--directory",
        dir.to_str().unwrap(),
        "--format",
        format,
    ];
    args.extend(extra);
    let out = env.custos(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{format}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alerts = env.sql("SELECT detector, user_id, toString(ts) FROM alerts FINAL ORDER BY detector, user_id, ts FORMAT TSV");
    let dead = env.sql("SELECT error_code, error_message FROM dead_letters FORMAT TSV");
    (
        alerts.lines().map(|l| l.replace('\t', " ")).collect(),
        dead.trim().to_owned(),
    )
}

#[test]
fn the_same_incidents_in_each_format_raise_the_same_alerts() {
    if skip_without_servers() {
        return;
    }
    let (native, none) = alerts_of("custos", NATIVE, &[]);
    assert_eq!(none, "");
    for want in [
        "bulk_export ana 2026-01-06 10:00:00",
        "off_hours_login ana 2026-01-06 02:14:07",
        "orphaned_account bob 2026-01-06 11:00:00",
    ] {
        assert!(native.iter().any(|a| a == want), "{want} not in {native:?}");
    }
    let (sf, sf_dead) = alerts_of("salesforce-rtem", SALESFORCE, &["--tenant", "default"]);
    assert_eq!(sf, native, "salesforce-rtem");
    assert_eq!(
        sf_dead,
        "unmapped\tmapping `salesforce-rtem`: no variant accepts `/event/MobileEmailEvent`"
    );
    let (elf, elf_dead) = alerts_of("salesforce-elf", ELF, &[]);
    assert_eq!(elf, native, "salesforce-elf");
    assert_eq!(
        elf_dead,
        "unmapped\tmapping `salesforce-elf`: no variant accepts `ApexExecution`"
    );
    let (ocsf, ocsf_dead) = alerts_of("ocsf", OCSF, &[]);
    assert_eq!(ocsf, native, "ocsf");
    assert_eq!(
        ocsf_dead,
        "unmapped\tmapping `ocsf`: no variant accepts `4001`"
    );
    let (m, m_dead) = alerts_of("m365-crm", &m365(), &[]);
    assert_eq!(m, native, "m365-crm");
    assert_eq!(
        m_dead,
        "unmapped\tmapping `m365-crm`: no variant accepts `Exchange`"
    );
    let (wk, wk_dead) = alerts_of("wukong", WUKONG, &["--timezone", "Asia/Shanghai"]);
    assert_eq!(wk, native, "wukong");
    assert_eq!(
        wk_dead,
        "unmapped\tmapping `wukong`: no variant accepts `wk_crm_customer`"
    );
}

#[test]
fn an_unknown_format_or_a_broken_mapping_file_is_a_clear_error() {
    let env = TestEnv::new("http://127.0.0.1:9", "");
    let out = env
        .custos(&["replay", "--input", "-", "--format", "saleforce"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown format `saleforce`") && err.contains("salesforce-rtem"),
        "{err}"
    );
    std::fs::write(
        env.path("m.toml"),
        "name = \"m\"\n[[variant]]\nname = \"v\"\n[variant.fields]\nts = [{ path = \"t\" }]\n",
    )
    .unwrap();
    let out = env
        .custos(&["mappings", "lint", env.path("m.toml").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "needs a `time` format",
        "required `user_id`",
        "required `action`",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
}

#[test]
fn serve_reads_a_mapped_kafka_topic() {
    if skip_without_servers() {
        return;
    }
    let kafka = MockKafka::new(1);
    let (topic, dtopic, group) = (unique_name("sf"), unique_name("dir"), unique_name("g"));
    kafka.create_topic(&topic, 2);
    kafka.create_topic(&dtopic, 1);
    let cfg = format!(
        "{}events_format = \"salesforce-rtem\"\nevents_tenant = \"acme\"\n",
        kafka.config_toml(&group, &topic, &dtopic)
    );
    let env = TestEnv::new(&ch_url(), &cfg);
    for (i, line) in SALESFORCE.lines().enumerate() {
        kafka.produce(&topic, &format!("k{i}"), line.as_bytes());
    }
    kafka.flush();
    let mut serve = env.spawn_serve("serve.log");
    let dead = env.wait_for(
        "SELECT count() FROM dead_letters",
        1,
        std::time::Duration::from_secs(60),
    );
    let stored = env.wait_for(
        "SELECT uniqExact(event_id) FROM events",
        4,
        std::time::Duration::from_secs(30),
    );
    serve.kill().unwrap();
    serve.wait().unwrap();
    let log = std::fs::read_to_string(env.path("serve.log")).unwrap();
    assert_eq!((stored, dead), (4, 1), "{log}");
    assert_eq!(
        env.sql("SELECT groupUniqArray(tenant), arraySort(groupUniqArray(event_id)) FROM events FORMAT TSV").trim(),
        "['acme']\t['s1','s3','s4','salesforce-rtem:x-1']",
        "the report's two chunks are one event, named by their dedup key"
    );
    assert_eq!(
        env.sql("SELECT count() FROM events FINAL WHERE event_id = 'salesforce-rtem:x-1' AND attr_values[indexOf(attr_keys, 'source_event_id')] IN ('s2a', 's2b') FORMAT TSV").trim(),
        "1",
        "a chunk's own id is kept"
    );
    assert_eq!(
        env.sql("SELECT error_code FROM dead_letters FORMAT TSV")
            .trim(),
        "unmapped"
    );
}

#[test]
fn serve_reads_several_topics_each_in_its_own_format() {
    if skip_without_servers() {
        return;
    }
    let kafka = MockKafka::new(1);
    let (native, sf, dtopic, group) = (
        unique_name("native"),
        unique_name("sf"),
        unique_name("dir"),
        unique_name("g"),
    );
    kafka.create_topic(&native, 2);
    kafka.create_topic(&sf, 1);
    kafka.create_topic(&dtopic, 1);
    let cfg = format!(
        "{}\n[[kafka.inputs]]\ntopic = \"{native}\"\n\n[[kafka.inputs]]\ntopic = \"{sf}\"\nformat = \"salesforce-rtem\"\ntenant = \"acme\"\n",
        kafka.config_toml(&group, "unused.events", &dtopic)
    );
    let env = TestEnv::new(&ch_url(), &cfg);
    for (i, line) in SALESFORCE.lines().enumerate() {
        kafka.produce(&sf, &format!("k{i}"), line.as_bytes());
    }
    // A native record, and a Salesforce record on the native topic: not the contract, a dead letter.
    kafka.produce(
        &native,
        "n1",
        event("n-1", "bob", "2026-01-05T10:00:00Z", "view", 0).as_bytes(),
    );
    kafka.produce(&native, "n2", SALESFORCE.lines().next().unwrap().as_bytes());
    kafka.flush();
    let mut serve = env.spawn_serve("serve.log");
    let dead = env.wait_for(
        "SELECT count() FROM dead_letters",
        2,
        std::time::Duration::from_secs(60),
    );
    let stored = env.wait_for(
        "SELECT uniqExact(event_id) FROM events",
        5,
        std::time::Duration::from_secs(30),
    );
    sigterm(&serve);
    serve.wait().unwrap();
    let log = std::fs::read_to_string(env.path("serve.log")).unwrap();
    assert_eq!((stored, dead), (5, 2), "{log}");
    assert_eq!(
        (
            committed_total(&kafka.bootstrap(), &group, &sf, 1),
            committed_total(&kafka.bootstrap(), &group, &native, 2)
        ),
        (6, 2),
        "both topics' offsets are committed: {log}"
    );
    assert_eq!(
        env.sql("SELECT arraySort(groupArray(event_id)) FROM (SELECT DISTINCT event_id FROM events WHERE tenant = 'acme') FORMAT TSV").trim(),
        "['s1','s3','s4','salesforce-rtem:x-1']",
        "the Salesforce topic is mapped"
    );
    assert_eq!(
        env.sql("SELECT DISTINCT event_id FROM events WHERE tenant != 'acme' FORMAT TSV")
            .trim(),
        "n-1",
        "the native topic is decoded as the contract"
    );
    let codes = env.sql("SELECT arraySort(groupArray(error_code)) FROM dead_letters FORMAT TSV");
    assert!(codes.contains("unmapped"), "{codes}");
    assert_eq!(codes.matches(',').count(), 1, "{codes}");
}

#[test]
fn a_team_mapping_in_the_mappings_dir_is_used_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mycrm.toml"),
        "name = \"mycrm\"\n[[variant]]\nname = \"all\"\n[variant.fields]\nts = [{ path = \"when\", time = \"epoch_s\" }]\nuser_id = [{ path = \"who\" }]\naction = [{ path = \"what\", map = { \"dl\" = \"export\" } }]\nrecord_count = [{ path = \"rows\" }]\n",
    )
    .unwrap();
    let env = TestEnv::new(
        "http://127.0.0.1:9",
        &format!("[mappings]\ndir = \"{}\"\n", dir.path().display()),
    );
    let mut child = env
        .custos(&["mappings", "try", "--format", "mycrm", "--tenant", "acme"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"{\"when\": 1767665647, \"who\": \"ana\", \"what\": \"dl\", \"rows\": 5000}\n{\"who\": \"ana\"}\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["action"], "export");
    assert_eq!(
        (
            lines[0]["record_count"].as_u64(),
            lines[0]["tenant"].as_str()
        ),
        (Some(5000), Some("acme"))
    );
    assert_eq!(lines[0]["ts"], "2026-01-06T02:14:07.000Z");
    assert_eq!(lines[1], serde_json::json!({"rejected": "unmapped"}));
    let lint = env.custos(&["mappings", "lint"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&lint.stdout).contains("ok      ")
            && String::from_utf8_lossy(&lint.stdout).contains("mycrm.toml")
    );
}
