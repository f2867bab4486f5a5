//! Synthetic CRM traffic: users in several time zones with working hours, daily sessions of logins,
//! views, reports, updates and small exports, plus planted incidents (a departed employee exporting at
//! night, a bulk export, a night login). Deterministic for a seed; emits contract-valid JSON lines.
//!
//! Memory stays bounded at any size: a simulated day is not built up front. Each user's events of
//! the day are drawn one at a time in time order (the next action is the minimum of the remaining
//! uniform times, from the user's own seeded generator), and a heap holds each user's next event.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::Ipv4Addr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

pub mod geodb;
mod plan;

use plan::{Mix, Plan, Stage};

/// A place the generator puts users (and what the demo's own City DB says about its network).
pub struct Region {
    pub country_iso: &'static str,
    pub country: &'static str,
    pub subdivision: &'static str,
    pub city: &'static str,
    pub time_zone: &'static str,
    pub net: [u8; 4],
    pub prefix: u8,
    pub lat_lon: (f64, f64),
}

#[allow(clippy::too_many_arguments)] // one row of the REGIONS table, positional like the table
const fn region(
    country_iso: &'static str,
    country: &'static str,
    subdivision: &'static str,
    city: &'static str,
    time_zone: &'static str,
    net: [u8; 4],
    prefix: u8,
    lat_lon: (f64, f64),
) -> Region {
    Region {
        country_iso,
        country,
        subdivision,
        city,
        time_zone,
        net,
        prefix,
        lat_lon,
    }
}

/// Where users work. The networks are real allocations in those countries, so a real City DB
/// resolves them too.
pub const REGIONS: &[Region] = &[
    region(
        "US",
        "United States",
        "New York",
        "New York",
        "America/New_York",
        [12, 0, 0, 0],
        8,
        (40.71, -74.01),
    ),
    region(
        "US",
        "United States",
        "California",
        "Los Angeles",
        "America/Los_Angeles",
        [4, 0, 0, 0],
        9,
        (34.05, -118.24),
    ),
    region(
        "GB",
        "United Kingdom",
        "England",
        "London",
        "Europe/London",
        [81, 2, 69, 0],
        24,
        (51.51, -0.13),
    ),
    region(
        "DE",
        "Germany",
        "Berlin",
        "Berlin",
        "Europe/Berlin",
        [85, 214, 0, 0],
        16,
        (52.52, 13.40),
    ),
    region(
        "CN",
        "China",
        "Shanghai",
        "Shanghai",
        "Asia/Shanghai",
        [114, 114, 0, 0],
        16,
        (31.23, 121.47),
    ),
    region(
        "JP",
        "Japan",
        "Tokyo",
        "Tokyo",
        "Asia/Tokyo",
        [133, 0, 0, 0],
        8,
        (35.68, 139.69),
    ),
    region(
        "IN",
        "India",
        "Karnataka",
        "Bengaluru",
        "Asia/Kolkata",
        [117, 192, 0, 0],
        10,
        (12.97, 77.59),
    ),
    region(
        "AU",
        "Australia",
        "New South Wales",
        "Sydney",
        "Australia/Sydney",
        [1, 128, 0, 0],
        11,
        (-33.87, 151.21),
    ),
];

/// Where the planted "departed employee" exports from.
pub const FOREIGN: Region = region(
    "NL",
    "The Netherlands",
    "North Holland",
    "Amsterdam",
    "Europe/Amsterdam",
    [185, 220, 100, 0],
    22,
    (52.37, 4.90),
);

const DEPARTMENTS: &[&str] = &["sales", "support", "marketing", "finance", "engineering"];
const OBJECTS: &[&str] = &["contact", "account", "lead", "opportunity", "case"];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Safari/605.1.15",
    "CRM-Mobile/5.2 (iOS 17.4)",
    "python-requests/2.31",
];

#[derive(Debug, Clone)]
pub struct GenOptions {
    pub seed: u64,
    pub users: usize,
    /// First simulated day (UTC midnight of it is day 0).
    pub start: DateTime<Utc>,
    pub incidents: bool,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            seed: 42,
            users: 200,
            start: Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap(),
            incidents: true,
        }
    }
}

struct User {
    tenant: &'static str,
    tz: Tz,
    work: (u32, u32),
    days: u8,
    ip: Ipv4Addr,
    dept: &'static str,
}

pub struct Generator {
    opts: GenOptions,
    users: Vec<User>,
    rng: ChaCha8Rng,
    day: i64,
    seq: u64,
    /// The current day: each active user's plan, and the heap of their next events (time, plan).
    plans: Vec<Plan>,
    heap: BinaryHeap<Reverse<(i64, u32)>>,
    /// The day's planted incidents, in time order.
    planted: VecDeque<Planted>,
}

/// A planted event, written when its time comes.
struct Planted {
    user: usize,
    ts: DateTime<Utc>,
    action: &'static str,
    extra: Value,
    ip: Option<String>,
}

fn ip_in(rng: &mut ChaCha8Rng, net: [u8; 4], prefix: u8) -> Ipv4Addr {
    let base = u32::from(Ipv4Addr::from(net));
    let host_bits = 32 - prefix as u32;
    let host = rng.gen_range(1..(1u64 << host_bits).saturating_sub(1).max(2)) as u32;
    Ipv4Addr::from(base | host)
}

impl Generator {
    pub fn new(opts: GenOptions) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let users = (0..opts.users.max(1))
            .map(|i| {
                let region = rng.gen_range(0..REGIONS.len());
                let r = &REGIONS[region];
                let (tz, net, prefix) = (r.time_zone, r.net, r.prefix);
                let night = i % 23 == 22;
                User {
                    tenant: if i % 5 == 4 { "globex" } else { "acme" },
                    tz: tz.parse().expect("valid zone"),
                    work: if night {
                        (22 * 60, 6 * 60)
                    } else {
                        (rng.gen_range(7..=10) * 60, 0)
                    },
                    days: if i % 11 == 10 {
                        0b0011_1111
                    } else {
                        0b0001_1111
                    },
                    ip: ip_in(&mut rng, net, prefix),
                    dept: DEPARTMENTS[i % DEPARTMENTS.len()],
                }
            })
            .map(|mut u| {
                if u.work.1 == 0 {
                    u.work.1 = u.work.0 + 9 * 60;
                }
                u
            })
            .collect();
        Generator {
            opts,
            users,
            rng,
            day: 0,
            seq: 0,
            plans: Vec::new(),
            heap: BinaryHeap::new(),
            planted: VecDeque::new(),
        }
    }

    fn departed(&self) -> Option<usize> {
        (self.opts.incidents && self.users.len() >= 4).then_some(1)
    }

    /// When the departed employee's termination takes effect: day 2, 17:00 local.
    fn termination(&self) -> Option<DateTime<Utc>> {
        let u = &self.users[self.departed()?];
        Some(self.local(u, 2, 17 * 60))
    }

    /// One record per user, plus the termination version for the departed employee.
    pub fn directory(&self) -> Vec<Value> {
        self.directory_records().collect()
    }

    /// [`Generator::directory`] one record at a time (any number of users in bounded memory).
    pub fn directory_records(&self) -> impl Iterator<Item = Value> + '_ {
        let last = self.departed().zip(self.termination()).map(|(i, at)| {
            let mut rec = self.record(i);
            rec["status"] = json!("terminated");
            rec["effective_ts"] = json!(rfc3339(at));
            rec
        });
        (0..self.users.len()).map(|i| self.record(i)).chain(last)
    }

    fn record(&self, i: usize) -> Value {
        let since = self.opts.start - Duration::days(365);
        let u = &self.users[i];
        let wd = if u.days == 0b0011_1111 {
            "Mon-Sat"
        } else {
            "Mon-Fri"
        };
        json!({
            "user_id": user_id(i), "status": "active", "effective_ts": rfc3339(since),
            "timezone": u.tz.name(),
            "work_hours": format!("{:02}:00-{:02}:00", u.work.0 / 60, (u.work.1 / 60) % 24),
            "work_days": wd, "display_name": format!("User {i}"),
            "email": format!("{}@{}.example.com", user_id(i), u.tenant), "department": u.dept,
            "role": if i == 0 { "admin" } else { "rep" },
            "manager_id": if i == 0 { String::new() } else { "u00000".to_owned() },
            "protected": i == 0,
        })
    }

    /// UTC instant of `minute` after local midnight on simulated day `day` in the user's zone.
    fn local(&self, u: &User, day: i64, minute: u32) -> DateTime<Utc> {
        local(self.opts.start, u, day, minute)
    }

    /// The event `action` of user `u` at `ts`, with the next event id.
    fn emit(
        &mut self,
        u: usize,
        ts: DateTime<Utc>,
        action: &str,
        extra: Value,
        ip: Option<String>,
    ) -> Value {
        self.seq += 1;
        let user = &self.users[u];
        let day = (ts - self.opts.start).num_days();
        // Some producers send local offsets instead of Z.
        let ts_text = if self.seq.is_multiple_of(5) {
            ts.with_timezone(&user.tz)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
        } else {
            rfc3339(ts)
        };
        let mut ev = json!({
            "event_id": format!("gen-{}-{:010}", self.opts.seed, self.seq),
            "ts": ts_text, "user_id": user_id(u), "action": action, "tenant": user.tenant,
            "ip": ip.unwrap_or_else(|| user.ip.to_string()),
            "user_agent": AGENTS[u % AGENTS.len()], "session_id": format!("s-{}-{day}", user_id(u)),
        });
        if let (Value::Object(m), Value::Object(x)) = (&mut ev, extra) {
            m.extend(x);
        }
        ev
    }

    fn plant(
        &mut self,
        user: usize,
        ts: DateTime<Utc>,
        action: &'static str,
        extra: Value,
        ip: Option<String>,
    ) {
        self.planted.push_back(Planted {
            user,
            ts,
            action,
            extra,
            ip,
        });
    }

    /// Starts the next simulated day: a plan for each user working that day, and its incidents.
    fn start_day(&mut self) {
        let day = self.day;
        self.day += 1;
        let weekday = (self.opts.start + Duration::days(day))
            .weekday()
            .num_days_from_monday();
        self.plans.clear();
        self.heap.clear();
        // Room for every user once (no doubling past it).
        self.plans.reserve_exact(self.users.len());
        self.heap.reserve_exact(self.users.len());
        for u in 0..self.users.len() {
            if self.departed() == Some(u) && day > 2 {
                continue; // gone: only the planted incident below
            }
            if self.users[u].days & (1 << weekday) == 0 {
                continue;
            }
            let (start, end) = self.users[u].work;
            let end = if end <= start { end + 24 * 60 } else { end };
            let mut rng = Mix::new(self.opts.seed, u, day);
            let login = start + rng.range(0, 40);
            let failed = rng.unit() < 0.05;
            let left = rng.range(8, 30);
            let stage = if failed {
                Stage::FailedLogin
            } else {
                Stage::Login
            };
            let at = if failed { login - 1 } else { login };
            let next = self.local(&self.users[u], day, at);
            let i = self.plans.len() as u32;
            self.plans.push(Plan {
                user: u as u32,
                rng,
                stage,
                login,
                end,
                at: f64::from(login + 1),
                left,
                next,
            });
            self.heap.push(Reverse((next.timestamp_millis(), i)));
        }
        self.plant_incidents(day);
        self.planted.make_contiguous().sort_by_key(|p| p.ts);
    }

    /// The event of plan `i` that is due, and its plan moved on (back on the heap unless done).
    fn take_planned(&mut self, i: usize) -> (DateTime<Utc>, Value) {
        let (day, start) = (self.day - 1, self.opts.start);
        let plan = &mut self.plans[i];
        let (u, ts, stage) = (plan.user as usize, plan.next, plan.stage);
        let user = &self.users[u];
        let (action, extra) = match stage {
            Stage::FailedLogin => {
                plan.stage = Stage::Login;
                plan.next = local(start, user, day, plan.login);
                ("login_failed", json!({"outcome": "failure"}))
            }
            Stage::Login => {
                plan.stage = Stage::Action;
                let (minute, ms) = plan.draw_action();
                plan.next = local(start, user, day, minute) + Duration::milliseconds(ms);
                ("login", json!({}))
            }
            Stage::Action => {
                let obj = OBJECTS[plan.rng.range(0, OBJECTS.len() as u32) as usize];
                let (action, count) = match plan.rng.range(0, 100) {
                    0..=69 => ("view", plan.rng.range(1, 20)),
                    70..=79 => ("report_run", plan.rng.range(10, 500)),
                    80..=89 => ("update", 1),
                    90..=94 => ("export", plan.rng.range(5, 120)),
                    95..=97 => ("api_call", plan.rng.range(1, 50)),
                    _ => ("delete", 1),
                };
                plan.left -= 1;
                if plan.left > 0 {
                    let (minute, ms) = plan.draw_action();
                    plan.next = local(start, user, day, minute) + Duration::milliseconds(ms);
                } else {
                    plan.stage = Stage::Logout;
                    plan.next = local(start, user, day, plan.end - 1);
                }
                (action, json!({"object_type": obj, "record_count": count}))
            }
            Stage::Logout => ("logout", json!({})),
        };
        if stage != Stage::Logout {
            let next = plan.next.timestamp_millis();
            self.heap.push(Reverse((next, i as u32)));
        }
        (ts, self.emit(u, ts, action, extra, None))
    }

    fn plant_incidents(&mut self, day: i64) {
        if !self.opts.incidents || self.users.len() < 4 {
            return;
        }
        let foreign = ip_in(&mut self.rng, FOREIGN.net, FOREIGN.prefix).to_string();
        match day {
            // A bulk export: four exports of 400 contacts in one afternoon.
            1 => {
                for k in 0..4 {
                    let t = self.local(&self.users[2], day, 14 * 60 + k * 20);
                    self.plant(2, t, "export", json!({"object_type": "contact", "record_count": 400, "attributes": {"format": "csv"}}), None);
                }
                // A night login (03:10 local) with a few views.
                let t = self.local(&self.users[3], day, 3 * 60 + 10);
                self.plant(3, t, "login", json!({}), None);
                for k in 0..3 {
                    let t = self.local(&self.users[3], day, 3 * 60 + 12 + k);
                    self.plant(
                        3,
                        t,
                        "view",
                        json!({"object_type": "account", "record_count": 25}),
                        None,
                    );
                }
            }
            // The departed employee logs in at 02:30 the night after leaving and exports contacts.
            3 => {
                let t = self.local(&self.users[1], day, 2 * 60 + 30);
                self.plant(1, t, "login", json!({}), Some(foreign.clone()));
                for k in 0..3 {
                    let t = self.local(&self.users[1], day, 2 * 60 + 35 + k * 4);
                    self.plant(
                        1,
                        t,
                        "export",
                        json!({"object_type": "contact", "record_count": 500}),
                        Some(foreign.clone()),
                    );
                }
            }
            _ => {}
        }
    }

    /// The next event as its simulated time and JSON.
    pub fn next_event(&mut self) -> (DateTime<Utc>, Value) {
        loop {
            let plan = self.heap.peek().map(|Reverse((t, i))| (*t, *i as usize));
            let planted = self.planted.front().map(|p| p.ts.timestamp_millis());
            match (plan, planted) {
                (None, None) => self.start_day(),
                (Some((t, i)), p) if p.is_none_or(|p| t < p) => {
                    self.heap.pop();
                    return self.take_planned(i);
                }
                _ => {
                    let p = self.planted.pop_front().expect("a planted event");
                    let ev = self.emit(p.user, p.ts, p.action, p.extra, p.ip);
                    return (p.ts, ev);
                }
            }
        }
    }
}

impl Iterator for Generator {
    type Item = String;
    fn next(&mut self) -> Option<String> {
        Some(self.next_event().1.to_string())
    }
}

/// User `i`'s id (not kept per user: a million users' ids would be 40 MB).
fn user_id(i: usize) -> String {
    format!("u{i:05}")
}

/// UTC instant of `minute` after local midnight on simulated day `day` in the user's zone.
fn local(start: DateTime<Utc>, u: &User, day: i64, minute: u32) -> DateTime<Utc> {
    let date: NaiveDate = (start + Duration::days(day)).date_naive();
    let naive = date.and_hms_opt(0, 0, 0).unwrap() + Duration::minutes(minute as i64);
    u.tz.from_local_datetime(&naive)
        .earliest()
        .unwrap_or_else(|| u.tz.from_utc_datetime(&naive))
        .with_timezone(&Utc)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    crate::time::rfc3339(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode_directory, decode_event};

    #[test]
    fn deterministic_and_valid() {
        let a: Vec<String> = Generator::new(GenOptions::default()).take(5000).collect();
        let b: Vec<String> = Generator::new(GenOptions::default()).take(5000).collect();
        assert_eq!(a, b);
        for line in &a {
            decode_event(line.as_bytes(), 1 << 20).unwrap_or_else(|e| panic!("{e}: {line}"));
        }
        for rec in Generator::new(GenOptions::default()).directory() {
            decode_directory(rec.to_string().as_bytes(), 1 << 20).unwrap();
        }
        let views = a
            .iter()
            .filter(|l| l.contains("\"action\":\"view\""))
            .count();
        assert!(views * 100 / a.len() > 50, "views {views} of {}", a.len());
    }

    #[test]
    fn incidents_are_planted() {
        let g = Generator::new(GenOptions::default());
        let all: Vec<String> = g.take(40_000).collect();
        let departed = all
            .iter()
            .filter(|l| {
                l.contains("\"user_id\":\"u00001\"")
                    && l.contains("\"export\"")
                    && l.contains("185.220.")
            })
            .count();
        assert_eq!(departed, 3);
        assert!(
            all.iter()
                .filter(
                    |l| l.contains("\"user_id\":\"u00002\"") && l.contains("\"record_count\":400")
                )
                .count()
                >= 4
        );
    }
}
