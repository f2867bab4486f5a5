//! Enrich stage: adds facts about an event that the event itself does not carry (geo-IP in the next
//! step). Runs after decode, before detect; must never fail an event — at worst it leaves fields empty.

use crate::model::Event;

/// One enrichment step over validated events.
pub trait Enricher: Send {
    fn enrich(&mut self, event: &mut Event);
}

/// The empty enrichment: geo columns stay empty.
pub struct NoEnrich;

impl Enricher for NoEnrich {
    fn enrich(&mut self, _event: &mut Event) {}
}
