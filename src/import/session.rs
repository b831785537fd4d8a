//! The last step every importer shares: integrate the samples, put the
//! clock-step markers among them, fill the report's figures and write the
//! closing line. An energy that overflows is refused here, so no importer
//! writes a closing line the reader cannot take.
use std::collections::BTreeMap;

use super::report::ImportReport;
use crate::model::event::{Event, Marker, SessionEnd, SourceStats};
use crate::model::fold::SessionFold;
use crate::model::header::Header;
use crate::model::sample::{Channel, Role, Sample};

/// What the session is made of, before the closing line.
pub(crate) struct Body<'a> {
    pub channels: &'a [Channel],
    pub interval_ms: f64,
    /// `tegrastats (imported)`, `nvidia-smi (imported)`.
    pub source: &'a str,
    pub samples: Vec<Sample>,
    /// In time order.
    pub markers: Vec<Marker>,
}

/// The events of the session (samples, markers, the closing line), with the
/// report's energy, duration and sample figures filled in.
pub(crate) fn finish(body: Body<'_>, rep: &mut ImportReport) -> Result<Vec<Event>, String> {
    let mut fold = SessionFold::new(&Header::bare(body.channels.to_vec(), body.interval_ms));
    let mut events = Vec::with_capacity(body.samples.len() + body.markers.len() + 1);
    let mut markers = body.markers.into_iter().peekable();
    let last_t = body
        .samples
        .last()
        .map_or(0.0, |s| crate::record::format::stored_time(s.t_s));
    for s in body.samples {
        while let Some(m) = markers.next_if(|m| m.t_s <= s.t_s) {
            events.push(Event::Marker(m));
        }
        let ev = Event::Sample(s);
        fold.apply(&ev);
        events.push(ev);
    }
    events.extend(markers.map(Event::Marker));
    rep.samples = ledger_samples(&events);
    rep.duration_s = fold.ledger().span_s();
    rep.energy_j = fold.joules();
    rep.uncovered_s = fold.uncovered_s();
    let energy_j = fold.ledger().energy_map();
    if let Some((name, j)) = energy_j.iter().find(|(_, j)| !j.is_finite()) {
        return Err(format!(
            "the energy of channel `{name}` is {j} J, beyond what a number holds: the log's readings or its --interval are out of range"
        ));
    }
    if !(rep.energy_j.is_none_or(f64::is_finite) && rep.duration_s.is_finite()) {
        return Err(format!(
            "the total energy ({:?} J over {} s) is beyond what a number holds: the log's readings or its --interval are out of range",
            rep.energy_j, rep.duration_s
        ));
    }
    rep.channel_energy_j = energy_j
        .iter()
        .filter(|(n, _)| body.channels.iter().any(|c| &c.name == *n && c.is_power()))
        .map(|(n, j)| (n.clone(), *j))
        .collect::<BTreeMap<_, _>>();
    rep.channels = body.channels.iter().map(|c| c.name.clone()).collect();
    rep.total_channel = body
        .channels
        .iter()
        .find(|c| c.role == Role::Total)
        .map(|c| c.name.clone());
    events.push(Event::End(SessionEnd {
        t_s: last_t,
        samples: rep.samples,
        energy_j,
        sources: vec![SourceStats {
            source: body.source.into(),
            nominal_interval_ms: body.interval_ms,
            effective_hz: (rep.duration_s > 0.0)
                .then(|| rep.samples.saturating_sub(1) as f64 / rep.duration_s),
            samples: rep.samples,
            missed: 0,
        }],
    }));
    Ok(events)
}

fn ledger_samples(events: &[Event]) -> u64 {
    events
        .iter()
        .filter(|e| matches!(e, Event::Sample(_)))
        .count() as u64
}

/// Seconds for an interval given in ms, refused outside what a session
/// header may hold (1 µs to one day, like the reader).
pub(crate) fn check_interval_ms(ms: f64) -> Result<f64, String> {
    if crate::record::format::interval_ms_in_range(ms) {
        Ok(ms)
    } else {
        Err(format!(
            "a sampling interval of {ms} ms is out of range (1 µs to one day)"
        ))
    }
}
