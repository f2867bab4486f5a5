//! One user's events of one simulated day, drawn one at a time in time order (so a day of any
//! number of users needs only each user's next event in memory).

use chrono::{DateTime, Utc};

/// A user's generator for one day (SplitMix64: small, so a million users' plans stay small).
#[derive(Debug)]
pub struct Mix(u64);

impl Mix {
    pub fn new(seed: u64, user: usize, day: i64) -> Self {
        let mut m = Mix(seed
            ^ (user as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (day as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
        m.next();
        m
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in `lo..hi` (hi > lo).
    pub fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next() % u64::from(hi - lo)) as u32
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stage {
    FailedLogin,
    Login,
    Action,
    Logout,
}

/// One user's remaining events of the simulated day.
#[derive(Debug)]
pub struct Plan {
    pub user: u32,
    pub rng: Mix,
    pub stage: Stage,
    pub login: u32,
    pub end: u32,
    /// The last action's minute: the next is the least of `left` uniform times after it.
    pub at: f64,
    pub left: u32,
    /// The next event's time.
    pub next: DateTime<Utc>,
}

impl Plan {
    /// The next action's time (minute of the day, and milliseconds into it): the least of the
    /// `left` remaining uniform times after the last one, up to five minutes before the end of work.
    pub fn draw_action(&mut self) -> (u32, i64) {
        let hi = f64::from(self.end - 5);
        let v = self.rng.unit();
        self.at += (hi - self.at) * (1.0 - v.powf(1.0 / f64::from(self.left)));
        let minute = self.at.floor();
        (minute as u32, ((self.at - minute) * 60_000.0) as i64)
    }
}
