//! The log's output: lines gathered in memory and written by one background thread every
//! 100 ms (at once for warnings and errors, or past 64 KiB), so a request never waits for
//! stdout. A stalled stdout costs dropped lines (counted and reported), never memory without
//! bound.

use std::io::Write;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// How often gathered lines are written.
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Written at once past this many bytes.
pub(super) const FLUSH_BYTES: usize = 64 * 1024;
/// Past this many bytes waiting (stdout stalled), new lines are dropped and counted.
const MAX_PENDING: usize = 8 * 1024 * 1024;

struct Pending {
    buf: Vec<u8>,
    dropped: u64,
    urgent: bool,
    stop: bool,
}

struct Output {
    writer: Box<dyn Write + Send>,
    spare: Vec<u8>,
}

pub(super) struct Sink {
    pending: Mutex<Pending>,
    wake: Condvar,
    output: Mutex<Output>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sink {
    pub(super) fn new(writer: Box<dyn Write + Send>) -> Self {
        Self {
            pending: Mutex::new(Pending {
                buf: Vec::with_capacity(FLUSH_BYTES),
                dropped: 0,
                urgent: false,
                stop: false,
            }),
            wake: Condvar::new(),
            output: Mutex::new(Output {
                writer,
                spare: Vec::with_capacity(FLUSH_BYTES),
            }),
        }
    }

    /// Appends one line written by `write`; `urgent` wakes the writer at once.
    pub(super) fn append(&self, urgent: bool, write: impl FnOnce(&mut Vec<u8>)) {
        let mut pending = lock(&self.pending);
        if pending.buf.len() > MAX_PENDING {
            pending.dropped += 1;
            return;
        }
        write(&mut pending.buf);
        if urgent || pending.buf.len() >= FLUSH_BYTES {
            pending.urgent = true;
            drop(pending);
            self.wake.notify_one();
        }
    }

    /// Asks the writer thread to write what is left and stop.
    pub(super) fn stop(&self) {
        lock(&self.pending).stop = true;
        self.wake.notify_one();
    }

    /// Writes everything gathered so far.
    pub(super) fn drain(&self) {
        let mut output = lock(&self.output);
        let output = &mut *output;
        let dropped = {
            let mut pending = lock(&self.pending);
            std::mem::swap(&mut pending.buf, &mut output.spare);
            std::mem::take(&mut pending.dropped)
        };
        if dropped > 0 {
            let _ = writeln!(
                output.spare,
                "doorman: {dropped} log lines dropped: stdout stalled"
            );
        }
        if !output.spare.is_empty() {
            let _ = output.writer.write_all(&output.spare);
            let _ = output.writer.flush();
            output.spare.clear();
        }
    }

    /// The writer thread's loop.
    pub(super) fn run(&self) {
        loop {
            let stop = {
                let mut pending = lock(&self.pending);
                if !pending.stop && !pending.urgent && pending.buf.len() < FLUSH_BYTES {
                    pending = self
                        .wake
                        .wait_timeout(pending, FLUSH_INTERVAL)
                        .map(|(guard, _)| guard)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                pending.urgent = false;
                pending.stop
            };
            self.drain();
            if stop {
                return;
            }
        }
    }
}
