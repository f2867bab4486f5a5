//! The analyst console in a real browser (headless Chromium driven by `tests/console/drive.mjs`)
//! against `custos api` on real ClickHouse: it signs in with a token, opens an alert, acknowledges
//! it with a note, visits every page without a script error or a CSP violation, and the status
//! change is in `alert_status_history` and `api_audit` like any API call. `CONSOLE_SCREENSHOTS=DIR`
//! keeps the screenshots (docs/console/ holds the committed ones).

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn an_analyst_triages_an_alert_in_the_console() {
    if skip_without_servers() {
        return;
    }
    let (token, lines) = custos::api::auth::new_token("analyst-console", "analyst").unwrap();
    // The demo City DB, so evidence and the overview show where events came from.
    let geo = tempfile::tempdir().unwrap();
    let city = geo.path().join("city.mmdb");
    custos::gen::geodb::write_demo_city_db(&city).unwrap();
    let env = TestEnv::new(
        &ch_url(),
        &format!(
            "[geoip]\ncity_db = [\"{}\"]\n\n[api]\nlisten = \"127.0.0.1:0\"\n{lines}\n",
            city.display()
        ),
    );
    let (ev, dir) = gen_files(&env, 20_000);
    replay_files(&env, &ev, Some(&dir), &[]);

    let (mut api, base) = env.spawn_api();
    // The page itself: served with a strict CSP, no inline script.
    let index = reqwest::blocking::get(format!("{base}/")).unwrap();
    let csp = index.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let html = index.text().unwrap();
    assert!(!html.contains("<script>") && html.contains("src=\"/console/app.js\""));

    let shots = std::env::var("CONSOLE_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| env.path("shots"));
    std::fs::create_dir_all(&shots).unwrap();
    let modules = std::env::var("CONSOLE_NODE_MODULES").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/console-test/node_modules"
        )
        .to_owned()
    });
    let out = Command::new("node")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/console/drive.mjs"
        ))
        .args([&base, &token, shots.to_str().unwrap()])
        .env("NODE_PATH", &modules)
        .output()
        .expect("node (tests/run.sh installs playwright-core and chromium)");
    let _ = api.kill();
    let _ = api.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the console run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let alert = result["alert_id"].as_str().unwrap();
    assert_eq!(
        env.sql(&format!(
            "SELECT status, note, actor FROM alert_status_history WHERE alert_id = '{alert}'"
        )),
        "acknowledged\tchecked in the console test\tanalyst-console"
    );
    let audited = env.wait_for(
        &format!("SELECT count() FROM api_audit WHERE token_name = 'analyst-console' AND method = 'POST' AND path = '/api/v1/alerts/{alert}/status' AND status = 200"),
        1,
        Duration::from_secs(10),
    );
    assert_eq!(
        audited, 1,
        "the console's status change is an audited API call"
    );
    for page in [
        "signin", "alerts", "alert", "timeline", "events", "lockouts", "overview",
    ] {
        assert!(shots.join(format!("{page}.png")).is_file(), "{page}.png");
    }
}
