//! The agent process's own resource metrics, the Prometheus client convention's names
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
//! `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`,
//! `process_start_time_seconds`), read from `/proc/self` on each scrape. prometheus-client has
//! no process collector; this is the thin layer it leaves to its users. A value `/proc` does
//! not give is left out of the scrape, never made up.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Reads `/proc/self` when scraped.
#[derive(Debug, Default)]
pub struct ProcessCollector;

/// One reading.
#[derive(Debug, Default, PartialEq)]
struct Reading {
    cpu_seconds: Option<f64>,
    resident_bytes: Option<i64>,
    virtual_bytes: Option<i64>,
    open_fds: Option<i64>,
    max_fds: Option<i64>,
    start_time_seconds: Option<f64>,
}

/// The fields of `/proc/<pid>/stat` after the command name (which may hold spaces and
/// parentheses: everything up to the last `)` is skipped).
fn stat_fields(stat: &str) -> Vec<&str> {
    stat.rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default()
}

/// `btime` of `/proc/stat`: the boot time, in seconds since the epoch.
fn boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// A reading from the texts of `/proc/self/stat` and `/proc/stat`, with the clock tick and page
/// size in effect.
fn parse(stat: &str, proc_stat: &str, ticks: u64, page: u64) -> Reading {
    let f = stat_fields(stat);
    // After the name: state is field 3 (index 0 here); utime 14, stime 15, starttime 22,
    // vsize 23, rss 24 (proc(5)).
    let num = |field: usize| f.get(field - 3).and_then(|v| v.parse::<u64>().ok());
    let ticks_f = ticks.max(1) as f64;
    let cpu_seconds = match (num(14), num(15)) {
        (Some(u), Some(s)) => Some(u.saturating_add(s) as f64 / ticks_f),
        _ => None,
    };
    let start_time_seconds = match (num(22), boot_time(proc_stat)) {
        (Some(start), Some(boot)) => Some(boot as f64 + start as f64 / ticks_f),
        _ => None,
    };
    Reading {
        cpu_seconds,
        resident_bytes: num(24)
            .and_then(|pages| pages.checked_mul(page))
            .and_then(|b| i64::try_from(b).ok()),
        virtual_bytes: num(23).and_then(|b| i64::try_from(b).ok()),
        open_fds: None,
        max_fds: None,
        start_time_seconds,
    }
}

fn read() -> Reading {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let proc_stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks = rustix::param::clock_ticks_per_second();
    let page = u64::try_from(rustix::param::page_size()).unwrap_or(4096);
    let mut r = parse(&stat, &proc_stat, ticks, page);
    r.open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .and_then(|d| i64::try_from(d.count()).ok());
    r.max_fds = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .and_then(|n| i64::try_from(n).ok());
    r
}

fn gauge<N>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: Option<N>,
) -> Result<(), std::fmt::Error>
where
    ConstGauge<N>: EncodeMetric,
{
    let Some(v) = value else {
        return Ok(());
    };
    let g = ConstGauge::new(v);
    let m = encoder.encode_descriptor(name, help, None, g.metric_type())?;
    g.encode(m)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let r = read();
        if let Some(cpu) = r.cpu_seconds {
            let c = ConstCounter::new(cpu);
            let m = encoder.encode_descriptor(
                "process_cpu_seconds",
                "User and system CPU time spent, in seconds",
                None,
                c.metric_type(),
            )?;
            c.encode(m)?;
        }
        gauge(
            &mut encoder,
            "process_resident_memory_bytes",
            "Resident memory size, in bytes",
            r.resident_bytes,
        )?;
        gauge(
            &mut encoder,
            "process_virtual_memory_bytes",
            "Virtual memory size, in bytes",
            r.virtual_bytes,
        )?;
        gauge(
            &mut encoder,
            "process_open_fds",
            "Open file descriptors",
            r.open_fds,
        )?;
        gauge(
            &mut encoder,
            "process_max_fds",
            "The limit on open file descriptors",
            r.max_fds,
        )?;
        gauge(
            &mut encoder,
            "process_start_time_seconds",
            "Start time of the process since the UNIX epoch, in seconds",
            r.start_time_seconds,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_is_read_past_a_name_with_spaces_and_parentheses() {
        // proc(5) fields 1..24 for a process named "a b) c".
        let stat = "4242 (a b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 1000 123456789 2560";
        let r = parse(stat, "cpu 1 2 3\nbtime 1700000000\n", 100, 4096);
        assert_eq!(r.cpu_seconds, Some(3.0));
        assert_eq!(r.start_time_seconds, Some(1_700_000_010.0));
        assert_eq!(r.virtual_bytes, Some(123_456_789));
        assert_eq!(r.resident_bytes, Some(2560 * 4096));
    }

    #[test]
    fn garbage_gives_no_values() {
        assert_eq!(parse("", "", 100, 4096), Reading::default());
        assert_eq!(parse("1 (x) S", "btime x", 0, 4096), Reading::default());
        // An RSS that overflows in bytes is left out, not wrapped.
        let stat = format!("1 (x) S {}{}", "0 ".repeat(20), u64::MAX);
        assert_eq!(parse(&stat, "", 100, 4096).resident_bytes, None);
    }

    #[test]
    fn a_scrape_has_this_process() {
        let mut reg = prometheus_client::registry::Registry::default();
        reg.register_collector(Box::new(ProcessCollector));
        let text = crate::agent::metrics::encode(&reg);
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_max_fds",
            "process_start_time_seconds",
        ] {
            assert!(
                text.contains(&format!("\n{name} "))
                    || text.starts_with(&format!("{name} "))
                    || text.contains(&format!("# TYPE {name}")),
                "{name} in {text}"
            );
        }
    }
}
