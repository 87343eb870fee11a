//! Time of each build phase, collected from `tracing` spans.
//!
//! The build opens one span per phase with [`phase`] (target
//! [`PHASE_TARGET`], level INFO, field `name`). [`PhaseTimings::layer`]
//! is a `tracing-subscriber` layer that records how long each such span
//! was open; `survey build --timings` installs it and prints the result.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Subscriber, span};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Target of the phase spans.
pub const PHASE_TARGET: &str = "survey::phase";

/// Opens the span of build phase `name`; the phase ends when the returned
/// guard is dropped.
pub fn phase(name: &'static str) -> span::EnteredSpan {
    tracing::info_span!(target: PHASE_TARGET, "phase", name).entered()
}

/// Phases recorded so far, in the order they ended.
#[derive(Debug, Clone, Default)]
pub struct PhaseTimings {
    phases: Arc<Mutex<Vec<(String, Duration)>>>,
}

impl PhaseTimings {
    pub fn new() -> PhaseTimings {
        PhaseTimings::default()
    }

    /// Returns a layer that records every phase span into `self`.
    pub fn layer(&self) -> PhaseLayer {
        PhaseLayer { phases: self.phases.clone() }
    }

    /// Removes and returns the phases recorded so far.
    pub fn take(&self) -> Vec<(String, Duration)> {
        std::mem::take(&mut *self.phases.lock().expect("timings lock"))
    }
}

/// The layer of [`PhaseTimings::layer`].
pub struct PhaseLayer {
    phases: Arc<Mutex<Vec<(String, Duration)>>>,
}

/// Name and start of an open phase span, stored in the span's extensions.
struct OpenPhase {
    name: String,
    started: Instant,
}

impl<S> Layer<S> for PhaseLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, context: Context<'_, S>) {
        if attributes.metadata().target() != PHASE_TARGET {
            return;
        }
        let mut visitor = NameVisitor(None);
        attributes.record(&mut visitor);
        if let (Some(name), Some(span)) = (visitor.0, context.span(id)) {
            span.extensions_mut().insert(OpenPhase { name, started: Instant::now() });
        }
    }

    fn on_close(&self, id: Id, context: Context<'_, S>) {
        let Some(span) = context.span(&id) else { return };
        if let Some(open) = span.extensions().get::<OpenPhase>() {
            self.phases.lock().expect("timings lock").push((open.name.clone(), open.started.elapsed()));
        }
    }
}

struct NameVisitor(Option<String>);

impl Visit for NameVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "name" {
            self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "name" {
            self.0 = Some(format!("{value:?}").trim_matches('"').to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn phases_are_recorded_in_order() {
        let timings = PhaseTimings::new();
        let subscriber = tracing_subscriber::registry().with(timings.layer());
        tracing::subscriber::with_default(subscriber, || {
            {
                let _outer = phase("render");
                let _inner = phase("math");
                std::thread::sleep(Duration::from_millis(2));
            }
            drop(phase("write"));
            tracing::info_span!("other").in_scope(|| {});
        });
        let phases = timings.take();
        let names: Vec<&str> = phases.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["math", "render", "write"]);
        assert!(phases[1].1 >= Duration::from_millis(2));
        assert!(timings.take().is_empty());
    }
}
