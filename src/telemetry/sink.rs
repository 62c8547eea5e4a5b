//! The log's output: lines gathered in memory and written by one background thread every
//! 100 ms (at once for warnings and errors, or past 64 KiB), so a request never waits for
//! stdout. Each thread appends to a buffer of its own (one of `SHARDS`, by the order threads
//! first log), so the serving threads never share a lock or a cache line per line: one shared
//! buffer cost about a tenth of a request's CPU, in both lock and buffer traffic between the
//! cores. One thread's lines keep their order; lines of different threads written in one
//! flush are grouped by thread. A stalled stdout costs dropped lines (counted and reported),
//! never memory without bound.

use std::cell::Cell;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// How often gathered lines are written.
const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// A thread's lines are written at once past this many bytes.
const FLUSH_BYTES: usize = 64 * 1024;
/// Past this many bytes waiting in one buffer (stdout stalled), its new lines are dropped
/// and counted.
const MAX_PENDING: usize = 8 * 1024 * 1024 / SHARDS;
/// Buffers: threads beyond this many share one.
const SHARDS: usize = 16;

/// Which buffer each thread appends to, given out in turn.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD: Cell<Option<usize>> = const { Cell::new(None) };
}

fn my_shard() -> usize {
    SHARD.with(|shard| {
        shard.get().unwrap_or_else(|| {
            let mine = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
            shard.set(Some(mine));
            mine
        })
    })
}

/// One thread's lines, on a cache line of its own.
#[repr(align(128))]
#[derive(Default)]
struct Shard(Mutex<Lines>);

#[derive(Default)]
struct Lines {
    buf: Vec<u8>,
    dropped: u64,
}

/// What the writer thread is told.
struct Signals {
    urgent: bool,
    stop: bool,
}

struct Output {
    writer: Box<dyn Write + Send>,
    spare: Vec<u8>,
}

pub(super) struct Sink {
    shards: [Shard; SHARDS],
    signals: Mutex<Signals>,
    wake: Condvar,
    output: Mutex<Output>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sink {
    pub(super) fn new(writer: Box<dyn Write + Send>) -> Self {
        Self {
            shards: Default::default(),
            signals: Mutex::new(Signals {
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

    /// Appends one line written by `write` to this thread's buffer; `urgent` wakes the writer
    /// at once.
    pub(super) fn append(&self, urgent: bool, write: impl FnOnce(&mut Vec<u8>)) {
        let full = {
            let mut lines = lock(&self.shards[my_shard()].0);
            if lines.buf.len() > MAX_PENDING {
                lines.dropped += 1;
                return;
            }
            if lines.buf.capacity() == 0 {
                lines.buf.reserve(FLUSH_BYTES);
            }
            write(&mut lines.buf);
            lines.buf.len() >= FLUSH_BYTES
        };
        if urgent || full {
            lock(&self.signals).urgent = true;
            self.wake.notify_one();
        }
    }

    /// Asks the writer thread to write what is left and stop.
    pub(super) fn stop(&self) {
        lock(&self.signals).stop = true;
        self.wake.notify_one();
    }

    /// Writes everything gathered so far.
    pub(super) fn drain(&self) {
        let mut output = lock(&self.output);
        let output = &mut *output;
        let mut dropped = 0;
        for shard in &self.shards {
            let mut lines = lock(&shard.0);
            output.spare.extend_from_slice(&lines.buf);
            lines.buf.clear();
            dropped += std::mem::take(&mut lines.dropped);
        }
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
                let mut signals = lock(&self.signals);
                if !signals.stop && !signals.urgent {
                    signals = self
                        .wake
                        .wait_timeout(signals, FLUSH_INTERVAL)
                        .map(|(guard, _)| guard)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                signals.urgent = false;
                signals.stop
            };
            self.drain();
            if stop {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A writer whose bytes the test can read.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_threads_lines_are_written_each_thread_in_its_order() {
        let out = Shared::default();
        let sink = Arc::new(Sink::new(Box::new(out.clone())));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    for i in 0..2000 {
                        sink.append(false, |buf| {
                            buf.extend_from_slice(format!("{t} {i}\n").as_bytes());
                        });
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("thread");
        }
        sink.drain();
        let text = String::from_utf8(lock(&out.0).clone()).expect("utf-8");
        let mut next = [0u32; 4];
        for line in text.lines() {
            let (t, i) = line.split_once(' ').expect("a line");
            let (t, i): (usize, u32) = (t.parse().expect("t"), i.parse().expect("i"));
            assert_eq!(i, next[t], "thread {t}'s lines in order");
            next[t] += 1;
        }
        assert_eq!(next, [2000; 4], "every line written once");
    }

    #[test]
    fn a_stalled_output_drops_and_counts_lines_instead_of_growing() {
        let out = Shared::default();
        let sink = Sink::new(Box::new(out.clone()));
        let line = [b'x'; 1023];
        let lines = 2 * MAX_PENDING / 1024;
        for _ in 0..lines {
            sink.append(false, |buf| {
                buf.extend_from_slice(&line);
                buf.push(b'\n');
            });
        }
        sink.drain();
        let text = String::from_utf8(lock(&out.0).clone()).expect("utf-8");
        let written = text.lines().filter(|l| l.starts_with('x')).count();
        assert!(written <= MAX_PENDING / 1024 + 1, "{written} lines kept");
        let dropped = lines - written;
        assert!(
            text.contains(&format!(
                "doorman: {dropped} log lines dropped: stdout stalled"
            )),
            "the drop is reported"
        );
    }
}
