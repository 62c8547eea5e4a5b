//! Log lines, as JSON (one object per line, for collectors) or pretty (for a person at a
//! terminal; colour only when stdout is one). Each line written while a request is served
//! carries its `request_id`. Formatting is `format`'s job, writing `sink`'s; `LogGuard`
//! writes what is left when it is dropped.

use std::io::Write;
use std::sync::Arc;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

use super::format::{json_line, pretty_line};
use super::sink::Sink;
use crate::error::context as scope;

/// How lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Json,
    Pretty { ansi: bool },
}

/// The layer that formats events into the shared buffer.
pub struct LogLayer {
    style: Style,
    sink: Arc<Sink>,
}

/// Writes what is left, and stops the writer thread, when dropped.
pub struct LogGuard {
    sink: Arc<Sink>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LogLayer {
    /// A layer writing to `writer` from a background thread, and the guard that flushes it.
    pub fn new(style: Style, writer: Box<dyn Write + Send>) -> (Self, LogGuard) {
        let sink = Arc::new(Sink::new(writer));
        let thread = {
            let sink = sink.clone();
            std::thread::Builder::new()
                .name("doorman-log".into())
                .spawn(move || sink.run())
                .ok()
        };
        (
            Self {
                style,
                sink: sink.clone(),
            },
            LogGuard { sink, thread },
        )
    }
}

impl LogLayer {
    /// The buffer, when this layer writes JSON (for `access::write_directly_to`).
    pub(super) fn json_sink(&self) -> Option<Arc<Sink>> {
        (self.style == Style::Json).then(|| self.sink.clone())
    }
}

impl LogGuard {
    /// Writes every line gathered so far, now.
    pub fn flush(&self) {
        self.sink.drain();
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.sink.stop();
        match self.thread.take() {
            Some(thread) => {
                let _ = thread.join();
            }
            None => self.sink.drain(),
        }
    }
}

impl<S: Subscriber> Layer<S> for LogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let request_id = scope::request_id();
        let id = request_id.as_ref().map(|r| r.as_str());
        let urgent = *event.metadata().level() <= Level::WARN;
        self.sink.append(urgent, |buf| match self.style {
            Style::Json => json_line(buf, event, id),
            Style::Pretty { ansi } => pretty_line(buf, event, id, ansi),
        });
    }
}
