//! `off_hours_login`: a successful `login` outside the user's working time, evaluated in the user's
//! local time (directory record, else tenant/global defaults). Failed logins do not count.

use serde::Deserialize;
use serde_json::json;

use super::rule::{Ctx, Kind, Rule, Trigger};
use crate::model::{Event, Outcome};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Minutes of slack before the window opens and after it closes.
    pub grace_minutes: u32,
}

impl Kind for Params {
    fn check(&self) -> Vec<(String, String)> {
        if self.grace_minutes > 12 * 60 {
            return vec![("params.grace_minutes".into(), "must be at most 720".into())];
        }
        Vec::new()
    }

    fn build(&self) -> Box<dyn Rule> {
        Box::new(OffHoursLogin { p: self.clone() })
    }
}

pub struct OffHoursLogin {
    p: Params,
}

impl Rule for OffHoursLogin {
    fn on_event(&mut self, ev: &Event, ctx: &Ctx) -> Option<Trigger> {
        if ev.action != "login" || ev.outcome != Outcome::Success {
            return None;
        }
        let rec = ctx.record(ev);
        let sched = ctx.worktime.schedule(&ev.tenant, rec);
        if sched.contains(ev.ts, self.p.grace_minutes) {
            return None;
        }
        let local = sched.local(ev.ts);
        let from = if ev.geo.country.is_empty() {
            String::new()
        } else {
            format!(" from {}", ev.geo.country)
        };
        let summary = format!(
            "{} logged in at {} {} ({}){from}, outside working hours {} {}",
            ev.user_id,
            local.format("%H:%M"),
            sched.tz.name(),
            local.format("%a %Y-%m-%d"),
            sched.days,
            sched.hours,
        );
        Some(Trigger::of(
            ev,
            summary,
            json!({
                "local_time": local.format("%Y-%m-%dT%H:%M:%S").to_string(),
                "timezone": sched.tz.name(),
                "work_hours": sched.hours.to_string(),
                "work_days": sched.days.to_string(),
                "schedule_source": sched.source,
                "grace_minutes": self.p.grace_minutes,
                "ip": ev.ip.map(|i| i.to_string()),
                "country_iso": ev.geo.country_iso,
                "city": ev.geo.city,
            }),
        ))
    }
}
