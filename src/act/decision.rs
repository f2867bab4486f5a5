//! The lockout decision as a pure function: from the facts about one lock alert to what happens.
//! No I/O, no clock; `lockout` gathers the facts and records the outcome.

use crate::config::Mode;
use crate::model::ActionStatus;

/// What is known when a lock alert is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// In `[response] protected_users` or `protected` in the directory.
    pub protected: bool,
    /// custos' latest lock/unlock of the account that did not fail is a lock.
    pub already_locked: bool,
    /// The storm breaker is open (tripped and not reset).
    pub breaker_tripped: bool,
    /// Automatic locks decided within the window (since the last reset), this one not counted.
    pub recent_locks: u64,
    pub max_locks: u32,
    pub mode: Mode,
}

/// The outcome of one decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Record the action with this status and send nothing.
    Record(ActionStatus),
    /// This lock would be one too many: trip the breaker (`count` locks in the window), record `rate_limited`.
    TripBreaker { count: u64 },
    /// Record `dispatched` and send the lock command.
    Dispatch,
}

/// The safety rails, in order: protected accounts, accounts already locked, an open breaker, a storm,
/// dry run; only then a lock goes out.
pub fn decide(f: &Facts) -> Decision {
    if f.protected {
        Decision::Record(ActionStatus::SkippedProtected)
    } else if f.already_locked {
        Decision::Record(ActionStatus::SkippedAlreadyLocked)
    } else if f.breaker_tripped {
        Decision::Record(ActionStatus::RateLimited)
    } else if f.recent_locks + 1 > f.max_locks as u64 {
        Decision::TripBreaker {
            count: f.recent_locks + 1,
        }
    } else if f.mode != Mode::Enforce {
        Decision::Record(ActionStatus::SkippedDryRun)
    } else {
        Decision::Dispatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            protected: false,
            already_locked: false,
            breaker_tripped: false,
            recent_locks: 0,
            max_locks: 3,
            mode: Mode::Enforce,
        }
    }

    #[test]
    fn a_plain_alert_in_enforce_mode_is_dispatched_and_in_dry_run_only_recorded() {
        assert_eq!(decide(&facts()), Decision::Dispatch);
        assert_eq!(
            decide(&Facts {
                mode: Mode::DryRun,
                ..facts()
            }),
            Decision::Record(ActionStatus::SkippedDryRun)
        );
    }

    #[test]
    fn the_rails_apply_in_order() {
        let all = Facts {
            protected: true,
            already_locked: true,
            breaker_tripped: true,
            recent_locks: 99,
            ..facts()
        };
        assert_eq!(
            decide(&all),
            Decision::Record(ActionStatus::SkippedProtected)
        );
        assert_eq!(
            decide(&Facts {
                protected: false,
                ..all
            }),
            Decision::Record(ActionStatus::SkippedAlreadyLocked)
        );
        assert_eq!(
            decide(&Facts {
                protected: false,
                already_locked: false,
                ..all
            }),
            Decision::Record(ActionStatus::RateLimited)
        );
        // A protected account is never locked, even in a storm and in enforce mode.
        assert_eq!(
            decide(&Facts {
                protected: true,
                recent_locks: 99,
                ..facts()
            }),
            Decision::Record(ActionStatus::SkippedProtected)
        );
    }

    #[test]
    fn the_breaker_trips_on_the_lock_past_the_limit_also_in_dry_run() {
        assert_eq!(
            decide(&Facts {
                recent_locks: 2,
                ..facts()
            }),
            Decision::Dispatch
        );
        assert_eq!(
            decide(&Facts {
                recent_locks: 3,
                ..facts()
            }),
            Decision::TripBreaker { count: 4 }
        );
        assert_eq!(
            decide(&Facts {
                recent_locks: 3,
                mode: Mode::DryRun,
                ..facts()
            }),
            Decision::TripBreaker { count: 4 }
        );
    }
}
