//! The bench's generated events written in each preset mapping's vendor format (for the mapping's
//! cost over native decoding): logins as each vendor's sign-in records, exports as its export
//! records, every other action as its record view, update or delete.

use custos::model::Event;
use serde_json::{json, Value};

/// Writes one event as a vendor's record.
pub type Write = fn(&Event) -> Vec<u8>;

/// The presets, each with the writer of its records.
pub const PRESETS: [(&str, Write); 5] = [
    ("ocsf", ocsf),
    ("salesforce-rtem", salesforce_rtem),
    ("salesforce-elf", salesforce_elf),
    ("m365-crm", m365_crm),
    ("wukong", wukong),
];

fn ip(e: &Event) -> Value {
    json!(e.ip.map(|i| i.to_string()))
}

fn is_login(e: &Event) -> bool {
    matches!(e.action.as_str(), "login" | "login_failed" | "logout")
}

/// OCSF 1.x: Authentication (3002) for logins, Web Resources Activity (6001) for the rest.
pub fn ocsf(e: &Event) -> Vec<u8> {
    let time = e.ts.timestamp_millis();
    let v = if is_login(e) {
        json!({
            "class_uid": 3002, "activity_id": if e.action == "logout" { 2 } else { 1 },
            "status_id": if e.action == "login_failed" { 2 } else { 1 }, "time": time,
            "metadata": {"uid": e.event_id, "tenant_uid": e.tenant}, "user": {"uid": e.user_id},
            "src_endpoint": {"ip": ip(e)}, "http_request": {"user_agent": e.user_agent},
        })
    } else {
        json!({
            "class_uid": 6001, "activity_id": match e.action.as_str() { "export" => 7, "delete" => 4, "update" => 3, _ => 2 },
            "time": time, "metadata": {"uid": e.event_id, "tenant_uid": e.tenant},
            "actor": {"user": {"uid": e.user_id}, "session": {"uid": e.session_id}},
            "web_resources": [{"type": e.object_type, "data": {"record_count": e.record_count}}],
            "src_endpoint": {"ip": ip(e)},
        })
    };
    serde_json::to_vec(&v).unwrap()
}

/// Real-Time Event Monitoring in CometD envelopes: LoginEventStream, LogoutEventStream,
/// ReportEventStream (exports), LightningUriEventStream (the rest).
pub fn salesforce_rtem(e: &Event) -> Vec<u8> {
    let date = e.ts.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string();
    let (stream, payload) = match e.action.as_str() {
        "login" | "login_failed" => (
            "LoginEventStream",
            json!({
                "EventIdentifier": e.event_id, "EventDate": date, "UserId": e.user_id,
                "Username": format!("{}@acme.example", e.user_id), "SourceIp": ip(e),
                "SessionKey": e.session_id,
                "Status": if e.action == "login" { "Success" } else { "Invalid Password" },
                "Browser": e.user_agent, "Platform": "Mac OSX", "LoginType": "Application",
            }),
        ),
        "logout" => (
            "LogoutEventStream",
            json!({"EventIdentifier": e.event_id, "EventDate": date, "UserId": e.user_id,
                   "SourceIp": ip(e), "SessionKey": e.session_id}),
        ),
        "export" => (
            "ReportEventStream",
            json!({
                "EventIdentifier": e.event_id, "ExecutionIdentifier": format!("exec-{}", e.event_id),
                "EventDate": date, "UserId": e.user_id, "SourceIp": ip(e), "SessionKey": e.session_id,
                "Operation": "ReportExported", "RowsProcessed": e.record_count,
                "QueriedEntities": format!("{},Account", e.object_type), "ReportId": "00Oxx000001",
            }),
        ),
        other => (
            "LightningUriEventStream",
            json!({
                "EventIdentifier": e.event_id, "EventDate": date, "UserId": e.user_id,
                "SourceIp": ip(e), "SessionKey": e.session_id,
                "Operation": match other { "update" => "Update", "delete" => "Delete", "create" => "Create", _ => "Read" },
                "QueriedEntities": e.object_type, "UserAgent": e.user_agent,
            }),
        ),
    };
    let v = json!({"channel": format!("/event/{stream}"),
                   "data": {"schema": "dxJ3", "event": {"replayId": 1001}, "payload": payload}});
    serde_json::to_vec(&v).unwrap()
}

/// Event Log File rows: Login, Logout, ReportExport, URI.
pub fn salesforce_elf(e: &Event) -> Vec<u8> {
    let kind = match e.action.as_str() {
        "login" | "login_failed" => "Login",
        "logout" => "Logout",
        "export" => "ReportExport",
        _ => "URI",
    };
    let v = json!({
        "EVENT_TYPE": kind, "TIMESTAMP": e.ts.format("%Y%m%d%H%M%S%.3f").to_string(),
        "TIMESTAMP_DERIVED": e.ts.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "REQUEST_ID": e.event_id, "ORGANIZATION_ID": e.tenant, "USER_ID": e.user_id,
        "USER_ID_DERIVED": e.user_id, "SOURCE_IP": ip(e), "BROWSER_TYPE": e.user_agent,
        "SESSION_KEY": e.session_id, "ENTITY_NAME": e.object_type, "ROW_COUNT": e.record_count,
        "LOGIN_STATUS": if e.action == "login_failed" { "LOGIN_ERROR_INVALID_PASSWORD" } else { "LOGIN_NO_ERROR" },
        "URI": "/lightning/r/Contact/003xx/view",
    });
    serde_json::to_vec(&v).unwrap()
}

/// Purview unified audit records: Entra ID sign-ins for logins (a logout as a failed sign-in: the
/// preset reads no sign-out), Dynamics 365 (CRM) for the rest, each listing up to ten record ids in
/// `QueryResults`.
pub fn m365_crm(e: &Event) -> Vec<u8> {
    let common = |workload: &str, record_type: u32, op: &str| {
        json!({
            "CreationTime": e.ts.format("%Y-%m-%dT%H:%M:%S").to_string(), "Id": e.event_id,
            "Operation": op, "OrganizationId": e.tenant, "RecordType": record_type,
            "ResultStatus": "Succeeded", "UserKey": "10032000A1B2C3D4", "UserType": 0, "Version": 1,
            "Workload": workload, "ClientIP": format!("{}:52311", ip(e).as_str().unwrap_or("")),
            "UserId": e.user_id, "UserAgent": e.user_agent,
        })
    };
    let v = match e.action.as_str() {
        "login" => common("AzureActiveDirectory", 15, "UserLoggedIn"),
        "login_failed" | "logout" => common("AzureActiveDirectory", 15, "UserLoginFailed"),
        other => {
            let op = match other {
                "export" => "ExportToExcel",
                "update" => "Update",
                "delete" => "Delete",
                "create" => "Create",
                _ => "RetrieveMultiple",
            };
            let mut v = common("CRM", 21, op);
            let ids: Vec<String> = (0..e.record_count.clamp(1, 10))
                .map(|i| format!("0f1e2d3c-{i:04}"))
                .collect();
            let o = v.as_object_mut().unwrap();
            o.insert("EntityName".into(), json!(e.object_type));
            o.insert("Message".into(), json!(op));
            o.insert("QueryResults".into(), json!(ids.join(",")));
            o.insert("CrmOrganizationUniqueName".into(), json!("org1a2b3c4d"));
            v
        }
    };
    serde_json::to_vec(&v).unwrap()
}

/// Debezium change events of WukongCRM's tables (no `payload` wrapper, wall times in UTC as the
/// input's timezone here is UTC): wk_admin_login_log for logins, wk_crm_action_record for the rest.
pub fn wukong(e: &Event) -> Vec<u8> {
    let ms = e.ts.timestamp_millis();
    let (table, after) = if is_login(e) {
        let result = if e.action == "login_failed" { 2 } else { 1 };
        (
            "wk_admin_login_log",
            json!({"log_id": ms, "create_user_id": e.user_id, "login_time": ms, "ip_address": ip(e),
                   "login_address": "上海", "device_type": "PC", "core": e.user_agent,
                   "platform": "Windows 10", "auth_result": result, "failed_result": null}),
        )
    } else {
        let behavior = match e.action.as_str() {
            "export" => 7,
            "delete" => 3,
            "create" => 1,
            _ => 2,
        };
        (
            "wk_crm_action_record",
            json!({"id": ms, "create_user_id": e.user_id, "create_time": ms, "ip_address": ip(e),
                   "types": 2, "action_id": 501, "behavior": behavior,
                   "detail": format!("导出了{}条客户", e.record_count)}),
        )
    };
    let v = json!({"before": null, "after": after,
                   "source": {"connector": "mysql", "db": "wk_crm_single", "table": table},
                   "op": "c", "ts_ms": ms});
    serde_json::to_vec(&v).unwrap()
}
