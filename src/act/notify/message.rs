//! What a notification says, and how each channel writes it: severity, the detector's title, the
//! summary, when in the user's own time, user, place, a link to the alert in the console, and the
//! lock's state. Pure functions of what the notifier looked up (unit-tested without servers).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

/// One alert as a message tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub alert_id: String,
    pub detector: String,
    pub title: String,
    pub severity: String,
    pub tenant: String,
    pub user_id: String,
    pub summary: String,
    pub at: DateTime<Utc>,
    /// The user's timezone (UTC when the directory has none).
    pub tz: Tz,
    /// "Berlin, Germany (81.2.69.10, AS3320)" from the latest evidence event; "" when unknown.
    pub place: String,
    pub link: String,
    /// The automatic lock's state when the detector locks (e.g. `acknowledged`, `skipped_dry_run`).
    pub lock: Option<String>,
}

impl Item {
    fn local_time(&self) -> String {
        let local = self.at.with_timezone(&self.tz);
        match self.tz {
            Tz::UTC => format!("{} UTC", self.at.format("%Y-%m-%d %H:%M:%S")),
            tz => format!(
                "{} {} ({} UTC)",
                local.format("%Y-%m-%d %H:%M:%S"),
                tz.name(),
                self.at.format("%H:%M")
            ),
        }
    }

    fn headline(&self) -> String {
        format!(
            "[{}] {}: {}",
            self.severity.to_uppercase(),
            self.title,
            self.user_id
        )
    }

    /// `label: value` lines, empty values left out.
    fn facts(&self) -> Vec<(&'static str, String)> {
        let mut f = vec![
            ("Summary", self.summary.clone()),
            ("When", self.local_time()),
            ("User", format!("{} (tenant {})", self.user_id, self.tenant)),
            ("Where", self.place.clone()),
        ];
        if let Some(l) = &self.lock {
            f.push(("Lock", l.clone()));
        }
        f.push(("Alert", self.link.clone()));
        f.retain(|(_, v)| !v.is_empty());
        f
    }
}

/// One message: an alert, or a digest of a period's alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub notification_id: String,
    pub route: String,
    pub items: Vec<Item>,
    /// A digest's period (start, end).
    pub period: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl Notice {
    pub fn subject(&self) -> String {
        match (&self.period, self.items.as_slice()) {
            (None, [one]) => format!("custos {}", one.headline()),
            _ => format!(
                "custos digest: {} alert{} ({})",
                self.items.len(),
                if self.items.len() == 1 { "" } else { "s" },
                self.worst()
            ),
        }
    }

    fn worst(&self) -> String {
        let rank = |s: &str| {
            ["low", "medium", "high", "critical"]
                .iter()
                .position(|x| *x == s)
        };
        self.items
            .iter()
            .max_by_key(|i| rank(&i.severity))
            .map_or_else(String::new, |i| format!("worst: {}", i.severity))
    }

    /// Plain text (e-mail, Slack).
    pub fn text(&self) -> String {
        let mut out = String::new();
        if let Some((from, to)) = self.period {
            out.push_str(&format!(
                "Alerts from {} to {} UTC:\n\n",
                from.format("%Y-%m-%d %H:%M"),
                to.format("%Y-%m-%d %H:%M")
            ));
        }
        for (n, i) in self.items.iter().enumerate() {
            if n > 0 {
                out.push('\n');
            }
            out.push_str(&i.headline());
            out.push('\n');
            for (k, v) in i.facts() {
                out.push_str(&format!("{k}: {v}\n"));
            }
        }
        out
    }

    /// Markdown as WeCom and DingTalk robots render it (WeCom colours by `<font color>`).
    pub fn markdown(&self, wecom: bool) -> String {
        let mut out = String::new();
        if let Some((from, to)) = self.period {
            out.push_str(&format!(
                "**custos digest** {} – {} UTC\n\n",
                from.format("%Y-%m-%d %H:%M"),
                to.format("%H:%M")
            ));
        }
        for i in &self.items {
            let sev = i.severity.to_uppercase();
            let sev = match (wecom, i.severity.as_str()) {
                (true, "critical" | "high") => format!("<font color=\"warning\">{sev}</font>"),
                (true, _) => format!("<font color=\"comment\">{sev}</font>"),
                _ => sev,
            };
            out.push_str(&format!("### {sev} {}\n", i.title));
            for (k, v) in i.facts() {
                match k {
                    "Alert" => out.push_str(&format!("> [Open the alert]({v})\n")),
                    _ => out.push_str(&format!("> **{k}:** {v}\n")),
                }
            }
            out.push('\n');
        }
        out
    }

    /// The channel's request body.
    pub fn body(&self, channel: crate::config::notify::Channel) -> Value {
        use crate::config::notify::Channel;
        match channel {
            Channel::Slack => json!({ "text": self.text() }),
            Channel::Wecom => {
                json!({ "msgtype": "markdown", "markdown": { "content": self.markdown(true) } })
            }
            Channel::Dingtalk => json!({
                "msgtype": "markdown",
                "markdown": { "title": self.subject(), "text": self.markdown(false) },
            }),
            Channel::Webhook | Channel::Email => json!({
                "notification_id": self.notification_id,
                "route": self.route,
                "subject": self.subject(),
                "period": self.period.map(|(a, b)| json!({ "from": crate::time::rfc3339(a), "to": crate::time::rfc3339(b) })),
                "alerts": self.items.iter().map(|i| json!({
                    "alert_id": i.alert_id,
                    "detector": i.detector,
                    "title": i.title,
                    "severity": i.severity,
                    "tenant": i.tenant,
                    "user_id": i.user_id,
                    "summary": i.summary,
                    "ts": crate::time::rfc3339(i.at),
                    "local_time": i.at.with_timezone(&i.tz).to_rfc3339(),
                    "timezone": i.tz.name(),
                    "place": i.place,
                    "link": i.link,
                    "lock": i.lock,
                })).collect::<Vec<_>>(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::notify::Channel;

    fn item() -> Item {
        Item {
            alert_id: "a1".into(),
            detector: "off_hours_login".into(),
            title: "Login outside working hours".into(),
            severity: "high".into(),
            tenant: "acme".into(),
            user_id: "alice".into(),
            summary: "login at 02:13 on a Monday".into(),
            at: "2026-01-05T18:13:00Z".parse().unwrap(),
            tz: "Asia/Shanghai".parse().unwrap(),
            place: "Berlin, Germany (81.2.69.10)".into(),
            link: "https://custos.example.com/#/alerts/a1".into(),
            lock: Some("acknowledged".into()),
        }
    }

    #[test]
    fn a_message_tells_severity_title_local_time_place_link_and_lock() {
        let n = Notice {
            notification_id: "n1".into(),
            route: "soc".into(),
            items: vec![item()],
            period: None,
        };
        let text = n.text();
        for want in [
            "[HIGH] Login outside working hours: alice",
            "When: 2026-01-06 02:13:00 Asia/Shanghai (18:13 UTC)",
            "Where: Berlin, Germany (81.2.69.10)",
            "Lock: acknowledged",
            "Alert: https://custos.example.com/#/alerts/a1",
        ] {
            assert!(text.contains(want), "{want} in\n{text}");
        }
        let wecom = n.body(Channel::Wecom);
        assert_eq!(wecom["msgtype"], "markdown");
        let content = wecom["markdown"]["content"].as_str().unwrap();
        assert!(
            content.contains("<font color=\"warning\">HIGH</font>"),
            "{content}"
        );
        assert!(content.contains("[Open the alert](https://custos.example.com/#/alerts/a1)"));
        let ding = n.body(Channel::Dingtalk);
        assert_eq!(
            ding["markdown"]["title"],
            "custos [HIGH] Login outside working hours: alice"
        );
        let hook = n.body(Channel::Webhook);
        assert_eq!(hook["alerts"][0]["local_time"], "2026-01-06T02:13:00+08:00");
        assert_eq!(n.body(Channel::Slack)["text"], text);
    }

    #[test]
    fn a_digest_lists_its_alerts_and_names_the_worst() {
        let mut low = item();
        low.severity = "medium".into();
        low.lock = None;
        let n = Notice {
            notification_id: "d1".into(),
            route: "daily".into(),
            items: vec![low, item()],
            period: Some((
                "2026-01-05T18:00:00Z".parse().unwrap(),
                "2026-01-05T19:00:00Z".parse().unwrap(),
            )),
        };
        assert_eq!(n.subject(), "custos digest: 2 alerts (worst: high)");
        let text = n.text();
        assert!(text.starts_with("Alerts from 2026-01-05 18:00 to 2026-01-05 19:00 UTC:"));
        assert_eq!(text.matches("Login outside working hours").count(), 2);
        assert_eq!(text.matches("Lock:").count(), 1);
    }
}
