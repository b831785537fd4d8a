//! Runs every source on its own thread. Each reading becomes an
//! `Event::Sample` as wide as all sources' channels together (`None` in the
//! other sources' columns), stamped with the monotonic instant of the read.
//! Failed reads and a source that falls behind become markers and count in
//! `SourceStats.missed`; nothing here panics on a sensor failure. Readings
//! go to a [`SampleSink`] the caller passes down (a channel, or a recorder
//! that runs on the source's own thread): nothing here knows a session.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Delivery, PowerSource, SensorError, StopHandle};
use crate::model::device::DeviceInfo;
use crate::model::event::{Event, Marker, MarkerKind, SourceStats};
use crate::model::sample::{Channel, Sample};

/// At most one marker per source per this long for a repeated failure.
pub const MARKER_EVERY: Duration = Duration::from_secs(5);

/// The sources of a session, checked, described and started (counters
/// primed, children running) but not yet read: what the header needs
/// (channels, device, intervals) is known before any sampling thread runs,
/// so the recorder can be ready for the first reading. Dropped without
/// [`Sampler::start`], the sources' children are stopped.
pub struct Sampler {
    /// Each source with its own interval.
    sources: Vec<(Box<dyn PowerSource>, Duration)>,
    stop_handles: Vec<StopHandle>,
    channels: Vec<Channel>,
    device: DeviceInfo,
}

/// Where a source's thread hands its readings and markers. The sampler
/// knows nothing of what is behind it (a channel to the session's recorder
/// thread, or the recorder itself, called on the source's own thread).
pub trait SampleSink: Send + 'static {
    /// How long readings may be held and handed on together: each hand-off
    /// to a channel may wake another thread. Zero hands every reading on at once.
    fn hold(&self) -> Duration;
    /// Take `events` (in order, draining the vector); false when nobody
    /// takes them any more (the source's thread then ends).
    fn deliver(&mut self, events: &mut Vec<Event>) -> bool;
}

/// The plain sink: a channel to another thread, handed on in bursts.
impl SampleSink for Sender<Event> {
    fn hold(&self) -> Duration {
        SEND_EVERY
    }
    fn deliver(&mut self, events: &mut Vec<Event>) -> bool {
        let mut ok = true;
        for ev in events.drain(..) {
            if ok && self.send(ev).is_err() {
                ok = false;
            }
        }
        ok
    }
}

pub struct SamplerHandle {
    channels: Vec<Channel>,
    device: DeviceInfo,
    stop: Arc<AtomicBool>,
    /// The sources' threads, unparked to stop.
    wake: Vec<std::thread::Thread>,
    stop_handles: Vec<StopHandle>,
    threads: Vec<(String, f64, JoinHandle<SourceStats>)>,
}

impl Sampler {
    /// Check the sources against `interval` (a source's own interval,
    /// `interval_override`, wins over it), collect their channels and what
    /// they describe of the device, and start them. No thread runs yet.
    pub fn prepare(
        sources: Vec<Box<dyn PowerSource>>,
        interval: Duration,
    ) -> Result<Sampler, SensorError> {
        if interval.is_zero() {
            return Err(SensorError::Usage(
                "the sampling interval must be above zero".into(),
            ));
        }
        check_resolutions(&sources, interval)?;
        // Host facts (model, power mode) come from `device::host_facts`,
        // whose roots the caller knows; here only what the sources describe.
        let mut prepared = Sampler {
            sources: Vec::with_capacity(sources.len()),
            stop_handles: Vec::new(),
            channels: Vec::new(),
            device: DeviceInfo::default(),
        };
        for mut src in sources {
            src.describe_device(&mut prepared.device);
            prepared.channels.extend_from_slice(src.channels());
            let iv = src.interval_override().unwrap_or(interval);
            if let Some(h) = src.start(iv)? {
                prepared.stop_handles.push(h);
            }
            prepared.sources.push((src, iv));
        }
        Ok(prepared)
    }

    /// [`Sampler::prepare`] and [`Sampler::start`] in one step.
    pub fn spawn<S: SampleSink + Clone>(
        sources: Vec<Box<dyn PowerSource>>,
        interval: Duration,
        origin: Instant,
        sink: S,
    ) -> Result<SamplerHandle, SensorError> {
        Self::prepare(sources, interval)?.start(origin, sink)
    }

    /// Every channel of every source, in column order.
    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// What the sources describe (GPU names, power limits).
    pub fn device(&self) -> DeviceInfo {
        self.device.clone()
    }

    /// The slowest source's sampling interval: the longest a source's
    /// thread sleeps between two readings.
    pub fn max_interval(&self) -> Option<Duration> {
        self.sources.iter().map(|(_, iv)| *iv).max()
    }

    /// The same in milliseconds (see [`SamplerHandle::max_interval_ms`]).
    pub fn max_interval_ms(&self) -> Option<f64> {
        self.max_interval().map(|d| d.as_secs_f64() * 1e3)
    }

    /// Whether every source is read on the sampler's own timer (none blocks
    /// in `read` waiting for a child process to print).
    pub fn all_polled(&self) -> bool {
        self.sources
            .iter()
            .all(|(s, _)| s.delivery() == Delivery::Polled)
    }

    /// Each source on its own thread; every reading becomes an
    /// `Event::Sample` whose `values` are as wide as `channels()` and whose
    /// `t_s` is the read instant minus `origin`, handed to a clone of `sink`.
    pub fn start<S: SampleSink + Clone>(
        mut self,
        origin: Instant,
        sink: S,
    ) -> Result<SamplerHandle, SensorError> {
        let width = self.channels.len();
        let mut handle = SamplerHandle {
            channels: std::mem::take(&mut self.channels),
            device: std::mem::take(&mut self.device),
            stop: Arc::new(AtomicBool::new(false)),
            wake: Vec::new(),
            stop_handles: std::mem::take(&mut self.stop_handles),
            threads: Vec::new(),
        };
        let mut offset = 0;
        for (src, iv) in std::mem::take(&mut self.sources) {
            let n = src.channels().len();
            let ctx = Ctx {
                offset,
                width,
                origin,
                interval: iv,
                stop: handle.stop.clone(),
                name: src.name().to_string(),
            };
            offset += n;
            let tally = Tally::new(sink.clone());
            let name = src.name().to_string();
            let ms = iv.as_secs_f64() * 1e3;
            let th = std::thread::Builder::new()
                .name(format!("sensor-{name}"))
                .spawn(move || match src.delivery() {
                    Delivery::Polled => run_polled(src, ctx, tally),
                    Delivery::Streaming => run_streaming(src, ctx, tally),
                })
                .map_err(SensorError::Thread)?;
            handle.wake.push(th.thread().clone());
            handle.threads.push((name, ms, th));
        }
        Ok(handle)
    }
}

impl Drop for Sampler {
    /// Prepared but never started (the recorder could not start): the
    /// sources' children stop.
    fn drop(&mut self) {
        for h in &self.stop_handles {
            h();
        }
    }
}

/// Refuse, before any source starts, an interval a source cannot deliver.
fn check_resolutions(
    sources: &[Box<dyn PowerSource>],
    interval: Duration,
) -> Result<(), SensorError> {
    for src in sources {
        let iv = src.interval_override().unwrap_or(interval);
        let r = src.resolution();
        if iv < r.min_interval {
            return Err(SensorError::Usage(format!(
                "{}: cannot sample every {} ms: {}; use an interval of {} ms or more (--interval-ms, or --source {}@MS)",
                src.name(),
                iv.as_secs_f64() * 1e3,
                r.why,
                r.min_interval.as_secs_f64() * 1e3,
                src.name(),
            )));
        }
    }
    Ok(())
}

impl SamplerHandle {
    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// The slowest source's sampling interval in milliseconds: the nominal
    /// interval of the session (gaps are judged against it, so a source
    /// sampled every second is not a string of gaps at a 100 ms default).
    pub fn max_interval_ms(&self) -> Option<f64> {
        self.threads.iter().map(|(_, ms, _)| *ms).reduce(f64::max)
    }

    /// What the sources describe (GPU names, power limits).
    pub fn device(&self) -> DeviceInfo {
        self.device.clone()
    }

    /// Join the threads, kill children (tegrastats), return measured rates.
    pub fn stop(mut self) -> Vec<SourceStats> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Vec<SourceStats> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.wake.drain(..) {
            t.unpark();
        }
        for h in &self.stop_handles {
            h();
        }
        self.threads
            .drain(..)
            .map(|(name, ms, th)| {
                th.join().unwrap_or_else(|_| SourceStats {
                    source: format!("{name} (thread panicked)"),
                    nominal_interval_ms: ms,
                    ..Default::default()
                })
            })
            .collect()
    }
}

impl Drop for SamplerHandle {
    /// Dropped without `stop` (an error path, a panic): threads end, children die.
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.shutdown();
        }
    }
}

struct Ctx {
    offset: usize,
    width: usize,
    origin: Instant,
    interval: Duration,
    stop: Arc<AtomicBool>,
    name: String,
}

/// Readings are handed on a channel at most this often, in bursts: each send
/// wakes the recorder thread, and in a VM a wake-up costs far more than a
/// sysfs read. The TUI draws data at 5 Hz anyway, and the recorder's flush
/// period is shortened by as much so a crash still loses at most a second.
/// (A sink that records on the source's own thread holds nothing.)
pub const SEND_EVERY: Duration = Duration::from_millis(200);

/// Counts and markers for one source's thread.
struct Tally<S> {
    sink: S,
    hold: Duration,
    samples: u64,
    missed: u64,
    first: Option<Instant>,
    last: Option<Instant>,
    last_marker: Option<(Instant, String)>,
    pending: Vec<Event>,
    last_send: Option<Instant>,
}

impl<S: SampleSink> Tally<S> {
    fn new(sink: S) -> Self {
        Tally {
            hold: sink.hold(),
            sink,
            samples: 0,
            missed: 0,
            first: None,
            last: None,
            last_marker: None,
            pending: Vec::new(),
            last_send: None,
        }
    }

    /// Hand the pending events on; false when the receiver is gone.
    fn flush(&mut self, at: Instant) -> bool {
        self.last_send = Some(at);
        self.sink.deliver(&mut self.pending)
    }

    /// Queue an event; hand the queue on when the last hand-off is the
    /// sink's `hold` old.
    fn queue(&mut self, at: Instant, ev: Event) -> bool {
        self.pending.push(ev);
        match self.last_send {
            Some(t) if at.saturating_duration_since(t) < self.hold => true,
            _ => self.flush(at),
        }
    }

    fn stats(&mut self, ctx: &Ctx) -> SourceStats {
        let now = Instant::now();
        self.flush(now);
        let hz = match (self.first, self.last) {
            (Some(a), Some(b)) if b > a && self.samples > 1 => {
                Some((self.samples - 1) as f64 / (b - a).as_secs_f64())
            }
            _ => None,
        };
        SourceStats {
            source: ctx.name.clone(),
            nominal_interval_ms: ctx.interval.as_secs_f64() * 1e3,
            effective_hz: hz,
            samples: self.samples,
            missed: self.missed,
        }
    }

    /// Send a marker unless the same text went out less than `MARKER_EVERY` ago.
    fn marker(&mut self, ctx: &Ctx, at: Instant, kind: MarkerKind, text: String) {
        if let Some((t, prev)) = &self.last_marker {
            if *prev == text && at.duration_since(*t) < MARKER_EVERY {
                return;
            }
        }
        self.pending.push(Event::Marker(Marker {
            t_s: t_since(ctx.origin, at),
            kind,
            text: text.clone(),
            value: None,
        }));
        // Markers go out at once, after the readings queued before them.
        self.flush(at);
        self.last_marker = Some((at, text));
    }

    /// Send a reading; false when the receiver is gone.
    fn sample(&mut self, ctx: &Ctx, at: Instant, vals: Vec<Option<f64>>) -> bool {
        let mut values = vec![None; ctx.width];
        for (i, v) in vals.into_iter().enumerate() {
            if let Some(slot) = values.get_mut(ctx.offset + i) {
                *slot = v;
            }
        }
        self.samples += 1;
        self.first.get_or_insert(at);
        self.last = Some(at);
        let ev = Event::Sample(Sample {
            t_s: t_since(ctx.origin, at),
            values,
        });
        self.queue(at, ev)
    }
}

fn t_since(origin: Instant, at: Instant) -> f64 {
    at.saturating_duration_since(origin).as_secs_f64()
}

fn run_polled<S: SampleSink>(
    mut src: Box<dyn PowerSource>,
    ctx: Ctx,
    mut tally: Tally<S>,
) -> SourceStats {
    let start = Instant::now();
    let mut tick: u32 = 0;
    while !ctx.stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        let r = src.read();
        let t1 = Instant::now();
        let at = t0 + (t1 - t0) / 2;
        match r {
            Ok(v) => {
                if !tally.sample(&ctx, at, v) {
                    break;
                }
            }
            Err(e) => {
                tally.missed += 1;
                tally.marker(&ctx, at, MarkerKind::SensorGap, e.to_string());
            }
        }
        tick = tick.saturating_add(1);
        let mut next = start + ctx.interval * tick;
        let now = Instant::now();
        if now > next + ctx.interval {
            // Fell behind by more than one interval: skip the lost ticks.
            let behind = ((now - next).as_nanos() / ctx.interval.as_nanos().max(1)) as u32;
            tally.missed += behind as u64;
            tick = tick.saturating_add(behind);
            next = start + ctx.interval * tick;
            tally.marker(
                &ctx,
                now,
                MarkerKind::SensorGap,
                format!(
                    "{} cannot keep up with {:.1} ms: a read took {:.1} ms; readings skipped",
                    ctx.name,
                    ctx.interval.as_secs_f64() * 1e3,
                    (t1 - t0).as_secs_f64() * 1e3
                ),
            );
        }
        sleep_until(next, &ctx.stop);
    }
    tally.stats(&ctx)
}

/// Park until `next` or until `stop` is set (the handle unparks the thread
/// then); a spurious wake-up parks again.
fn sleep_until(next: Instant, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= next {
            return;
        }
        std::thread::park_timeout(next - now);
    }
}

fn run_streaming<S: SampleSink>(
    mut src: Box<dyn PowerSource>,
    ctx: Ctx,
    mut tally: Tally<S>,
) -> SourceStats {
    let late = ctx.interval * 3;
    while !ctx.stop.load(Ordering::Relaxed) {
        match src.read() {
            Ok(v) => {
                let at = Instant::now();
                if let Some(prev) = tally.last {
                    let gap = at - prev;
                    if gap > late {
                        let lost = (gap.as_nanos() / ctx.interval.as_nanos().max(1)) as u64 - 1;
                        tally.missed += lost;
                        tally.marker(
                            &ctx,
                            at,
                            MarkerKind::SensorGap,
                            format!(
                                "{}: no line for {:.0} ms (asked for one every {:.0} ms)",
                                ctx.name,
                                gap.as_secs_f64() * 1e3,
                                ctx.interval.as_secs_f64() * 1e3
                            ),
                        );
                    }
                }
                if !tally.sample(&ctx, at, v) {
                    break;
                }
            }
            Err(e) => {
                if ctx.stop.load(Ordering::Relaxed) {
                    break;
                }
                let ended = matches!(e, SensorError::Ended { .. });
                tally.marker(&ctx, Instant::now(), MarkerKind::Error, e.to_string());
                if ended {
                    break;
                }
                tally.missed += 1;
            }
        }
    }
    tally.stats(&ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sample::{Role, Scope};
    use std::sync::mpsc;

    /// How a fake source's reads go.
    enum Reads {
        /// Counts reads, fails every third.
        FailEveryThird,
        /// Reads after the first take this long each.
        SlowAfterFirst(Duration),
    }

    /// A fake polled source for tests.
    struct FakeSource {
        channels: Vec<Channel>,
        reads: u32,
        kind: Reads,
    }

    impl PowerSource for FakeSource {
        fn name(&self) -> &str {
            match self.kind {
                Reads::FailEveryThird => "fake",
                Reads::SlowAfterFirst(_) => "slow",
            }
        }
        fn channels(&self) -> &[Channel] {
            &self.channels
        }
        fn resolution(&self) -> crate::sensors::Resolution {
            crate::sensors::Resolution {
                min_interval: Duration::from_micros(1),
                why: "a fake",
            }
        }
        fn read(&mut self) -> Result<Vec<Option<f64>>, SensorError> {
            self.reads += 1;
            match self.kind {
                Reads::FailEveryThird if self.reads % 3 == 0 => {
                    Err(SensorError::read("fake", "x", "injected failure"))
                }
                Reads::FailEveryThird => Ok(vec![Some(self.reads as f64)]),
                Reads::SlowAfterFirst(slow) => {
                    if self.reads > 1 {
                        // The slow read is what is under test, not a wait for it.
                        std::thread::sleep(slow);
                    }
                    Ok(vec![Some(1.0)])
                }
            }
        }
    }

    fn fake(name: &str) -> Box<dyn PowerSource> {
        Box::new(FakeSource {
            channels: vec![Channel::power(name, Scope::Rail, Role::Total, "fake")],
            reads: 0,
            kind: Reads::FailEveryThird,
        })
    }

    #[test]
    fn rows_are_as_wide_as_all_channels_and_failures_become_markers() {
        let (tx, rx) = mpsc::channel();
        let origin = Instant::now();
        let h = Sampler::spawn(
            vec![fake("a"), fake("b")],
            Duration::from_millis(1),
            origin,
            tx,
        )
        .unwrap();
        assert_eq!(h.channels().len(), 2);
        // Wait for events, not for time: collect until both sources have sent samples and markers.
        let mut samples_a = 0;
        let mut samples_b = 0;
        let mut markers = 0;
        while samples_a < 5 || samples_b < 5 || markers < 2 {
            match rx
                .recv_timeout(Duration::from_secs(10))
                .expect("sampler sends")
            {
                Event::Sample(s) => {
                    assert_eq!(s.values.len(), 2);
                    match (s.values[0], s.values[1]) {
                        (Some(_), None) => samples_a += 1,
                        (None, Some(_)) => samples_b += 1,
                        other => panic!("row fills one source's columns: {other:?}"),
                    }
                    assert!(s.t_s >= 0.0);
                }
                Event::Marker(m) => {
                    assert_eq!(m.kind, MarkerKind::SensorGap);
                    // A loaded test machine may also make the 1 ms source fall behind.
                    assert!(
                        m.text.contains("injected failure") || m.text.contains("cannot keep up"),
                        "{}",
                        m.text
                    );
                    markers += 1;
                }
                _ => {}
            }
        }
        let stats = h.stop();
        assert_eq!(stats.len(), 2);
        assert!(
            stats.iter().all(|s| s.missed >= 1 && s.samples >= 5),
            "{stats:?}"
        );
    }

    #[test]
    fn stop_returns_even_with_a_long_interval() {
        let (tx, _rx) = mpsc::channel();
        let h = Sampler::spawn(
            vec![fake("a")],
            Duration::from_secs(3600),
            Instant::now(),
            tx,
        )
        .unwrap();
        let stats = h.stop();
        assert!(stats[0].samples <= 1);
        assert_eq!(stats[0].nominal_interval_ms, 3_600_000.0);
    }

    /// A sink that records on the source's own thread (as a headless
    /// session's recorder does): nothing held, every event handed on at once.
    #[derive(Clone)]
    struct Inline(Sender<Event>);

    impl SampleSink for Inline {
        fn hold(&self) -> Duration {
            Duration::ZERO
        }
        fn deliver(&mut self, events: &mut Vec<Event>) -> bool {
            events.drain(..).all(|ev| self.0.send(ev).is_ok())
        }
    }

    #[test]
    fn a_sink_that_holds_nothing_gets_each_reading_and_skipped_ticks_are_counted_and_marked() {
        let (tx, rx) = mpsc::channel();
        let src = Box::new(FakeSource {
            channels: vec![Channel::power("s", Scope::Rail, Role::Total, "fake")],
            reads: 0,
            kind: Reads::SlowAfterFirst(Duration::from_millis(20)),
        });
        let prepared = Sampler::prepare(vec![src], Duration::from_millis(1)).unwrap();
        assert_eq!(prepared.channels().len(), 1);
        assert_eq!(prepared.max_interval(), Some(Duration::from_millis(1)));
        assert!(prepared.all_polled());
        let h = prepared.start(Instant::now(), Inline(tx)).unwrap();
        let mut samples = 0;
        let marker = loop {
            match rx
                .recv_timeout(Duration::from_secs(10))
                .expect("sampler sends")
            {
                Event::Sample(_) => samples += 1,
                Event::Marker(m) => break m,
                other => panic!("{other:?}"),
            }
        };
        // The reading before the marker came on its own, not in a burst.
        assert!(samples >= 1);
        assert_eq!(marker.kind, MarkerKind::SensorGap);
        assert!(marker.text.contains("readings skipped"), "{}", marker.text);
        let stats = h.stop();
        // A 20 ms read at 1 ms skips at least 18 ticks each time.
        assert!(stats[0].missed >= 18, "{stats:?}");
    }
}
