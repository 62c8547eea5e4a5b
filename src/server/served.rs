//! What each serving thread served, counted on the thread itself (a thread-local, so the hot
//! path touches no shared cache line) and summed up in one log line when the server stops.

use std::cell::Cell;
use std::fmt;

/// Connections accepted and requests answered by one serving thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Served {
    pub(crate) connections: u64,
    pub(crate) requests: u64,
}

thread_local! {
    static SERVED: Cell<Served> = const { Cell::new(Served { connections: 0, requests: 0 }) };
}

/// Counts a connection accepted on this thread.
pub(super) fn connection() {
    SERVED.with(|served| {
        let mut now = served.get();
        now.connections += 1;
        served.set(now);
    });
}

/// Counts a request read on this thread.
pub(super) fn request() {
    SERVED.with(|served| {
        let mut now = served.get();
        now.requests += 1;
        served.set(now);
    });
}

/// This thread's counts so far.
pub(super) fn so_far() -> Served {
    SERVED.with(Cell::get)
}

/// Each thread's share of the requests and its connections, for the log line at stop:
/// `0: 50.3% (32 conn), 1: 49.7% (32 conn)`. An uneven spread means one core does most of the
/// work while the other idles.
pub(crate) struct Shares<'a>(pub(crate) &'a [Served]);

impl fmt::Display for Shares<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total: u64 = self.0.iter().map(|served| served.requests).sum();
        for (thread, served) in self.0.iter().enumerate() {
            if thread > 0 {
                f.write_str(", ")?;
            }
            // Shares of a few million requests: f64 is exact enough for one decimal.
            let share = if total == 0 {
                0.0
            } else {
                served.requests as f64 * 100.0 / total as f64
            };
            write!(f, "{thread}: {share:.1}% ({} conn)", served.connections)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_name_each_thread_with_its_part_of_the_requests_and_its_connections() {
        let threads = [
            Served {
                connections: 48,
                requests: 300,
            },
            Served {
                connections: 16,
                requests: 100,
            },
        ];
        assert_eq!(
            Shares(&threads).to_string(),
            "0: 75.0% (48 conn), 1: 25.0% (16 conn)"
        );
        assert_eq!(Shares(&[Served::default()]).to_string(), "0: 0.0% (0 conn)");
    }

    #[test]
    fn counts_stay_on_the_thread_that_made_them() {
        let before = so_far();
        connection();
        request();
        request();
        let other = std::thread::spawn(so_far).join().expect("thread");
        assert_eq!(other, Served::default());
        let after = so_far();
        assert_eq!(after.connections - before.connections, 1);
        assert_eq!(after.requests - before.requests, 2);
    }
}
