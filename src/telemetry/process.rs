//! Process metrics read from `/proc/self` at scrape time (Linux; elsewhere they are left out):
//! resident memory, open file descriptors, CPU seconds.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

#[derive(Debug)]
pub(super) struct ProcessCollector;

/// Clock ticks per second as `/proc/self/stat` counts CPU time (`sysconf(_SC_CLK_TCK)`, 100
/// on every Linux that matters).
const CLOCK_TICKS: f64 = 100.0;
const PAGE_BYTES: f64 = 4096.0;

struct Sample {
    resident_bytes: f64,
    cpu_seconds: f64,
    open_fds: f64,
}

fn sample() -> Option<Sample> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    let cpu_seconds = (ticks(11)? + ticks(12)?) / CLOCK_TICKS;
    let resident_bytes = ticks(21)? * PAGE_BYTES;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
    Some(Sample {
        resident_bytes,
        cpu_seconds,
        open_fds,
    })
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(s) = sample() else { return Ok(()) };
        let gauge = |encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: f64| {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(value).encode(metric)
        };
        gauge(
            &mut encoder,
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            s.resident_bytes,
        )?;
        gauge(
            &mut encoder,
            "process_open_fds",
            "Open file descriptors",
            s.open_fds,
        )?;
        let cpu = encoder.encode_descriptor(
            "process_cpu_seconds",
            "User and system CPU time spent, in seconds",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(s.cpu_seconds).encode(cpu)
    }
}
