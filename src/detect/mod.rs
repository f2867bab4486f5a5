//! Detect stage: evaluates detectors over enriched events in event time, with the directory view, and
//! yields alerts. The detectors themselves (rules as data in `detectors/`) come with their own issue;
//! this module fixes the seam the pipeline calls.

use crate::directory::Directory;
use crate::model::Event;

/// An alert raised by a detector. Its id is derived from its inputs, so a replay raises the same id.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub alert_id: String,
    pub detector: String,
    pub user_id: String,
    pub evidence_event_ids: Vec<String>,
}

/// Evaluates every enabled detector for one event.
pub trait Detect: Send {
    fn on_event(&mut self, event: &Event, directory: &Directory, out: &mut Vec<Alert>);
}

/// No detectors configured.
pub struct NoDetect;

impl Detect for NoDetect {
    fn on_event(&mut self, _: &Event, _: &Directory, _: &mut Vec<Alert>) {}
}
