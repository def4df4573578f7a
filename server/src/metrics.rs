//! `/metrics`: what the server is doing, in the Prometheus text exposition format.
//!
//! Requests are counted per route and status and timed in a latency histogram per route; the
//! core contributes its catalog-cache counters (hits, misses, invalidations — the hit ratio is
//! `hits / (hits + misses)`) and the recorder's group-commit figures (batches, events, a
//! batch-size histogram, the queue depth). A handful of atomics and one small map; no metrics
//! crate is needed for that.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use zhenwei_core::recorder::BATCH_BUCKETS;
use zhenwei_core::Core;

/// Latency histogram bucket bounds, seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The routes requests are counted under (a fixed set, so a scan of random paths cannot grow
/// the metrics).
pub const ROUTES: [&str; 8] = [
    "/v1/verify",
    "/v1/report",
    "/v1/sms/inbound",
    "/healthz",
    "/metrics",
    "/",
    "static",
    "other",
];

/// The process's request metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);

/// The label a request path is counted under.
pub fn route_label(path: &str) -> &'static str {
    match path {
        "/v1/verify" => "/v1/verify",
        "/v1/report" => "/v1/report",
        "/v1/sms/inbound" => "/v1/sms/inbound",
        "/healthz" => "/healthz",
        "/metrics" => "/metrics",
        "/" => "/",
        p if crate::page::is_page_path(p) => "static",
        _ => "other",
    }
}

#[derive(Default)]
struct RouteStats {
    buckets: [AtomicU64; 12],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// Request counters and latency histograms.
#[derive(Default)]
pub struct Metrics {
    routes: [RouteStats; ROUTES.len()],
    statuses: Mutex<BTreeMap<(usize, u16), u64>>,
}

fn route_index(route: &str) -> usize {
    ROUTES
        .iter()
        .position(|r| *r == route)
        .unwrap_or(ROUTES.len() - 1)
}

impl Metrics {
    /// Records one answered request. `route` should be one of [`ROUTES`].
    pub fn observe(&self, route: &str, status: u16, elapsed: Duration) {
        let i = route_index(route);
        let r = &self.routes[i];
        let secs = elapsed.as_secs_f64();
        for (b, bound) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *bound {
                r.buckets[b].fetch_add(1, Ordering::Relaxed);
            }
        }
        r.count.fetch_add(1, Ordering::Relaxed);
        r.sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        let mut s = match self.statuses.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *s.entry((i, status)).or_insert(0) += 1;
    }

    /// The exposition text.
    pub fn render(&self, core: &Core) -> String {
        let mut out = String::with_capacity(4096);
        let _ = self.write(&mut out, core);
        out
    }

    fn write(&self, out: &mut String, core: &Core) -> std::fmt::Result {
        writeln!(
            out,
            "# HELP zhenwei_http_requests_total HTTP requests answered, by route and status."
        )?;
        writeln!(out, "# TYPE zhenwei_http_requests_total counter")?;
        let statuses = match self.statuses.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        for ((i, status), n) in &statuses {
            writeln!(
                out,
                "zhenwei_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                ROUTES[*i]
            )?;
        }
        writeln!(
            out,
            "# HELP zhenwei_http_request_duration_seconds Time to answer, by route."
        )?;
        writeln!(
            out,
            "# TYPE zhenwei_http_request_duration_seconds histogram"
        )?;
        for (i, r) in self.routes.iter().enumerate() {
            let count = r.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let route = ROUTES[i];
            for (b, bound) in LATENCY_BUCKETS.iter().enumerate() {
                writeln!(
                    out,
                    "zhenwei_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {}",
                    r.buckets[b].load(Ordering::Relaxed)
                )?;
            }
            writeln!(
                out,
                "zhenwei_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}"
            )?;
            writeln!(
                out,
                "zhenwei_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                r.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
            )?;
            writeln!(
                out,
                "zhenwei_http_request_duration_seconds_count{{route=\"{route}\"}} {count}"
            )?;
        }

        let c = core.verifier.catalog().stats();
        for (name, help, value) in [
            (
                "zhenwei_catalog_hits_total",
                "Catalog cache lookups answered from memory.",
                c.hits,
            ),
            (
                "zhenwei_catalog_misses_total",
                "Catalog cache lookups that read the database.",
                c.misses,
            ),
            (
                "zhenwei_catalog_invalidations_total",
                "Times the catalog cache was cleared after a change.",
                c.invalidations,
            ),
        ] {
            writeln!(out, "# HELP {name} {help}")?;
            writeln!(out, "# TYPE {name} counter")?;
            writeln!(out, "{name} {value}")?;
        }
        writeln!(
            out,
            "# HELP zhenwei_catalog_entries Entries in the catalog cache."
        )?;
        writeln!(out, "# TYPE zhenwei_catalog_entries gauge")?;
        writeln!(out, "zhenwei_catalog_entries {}", c.entries)?;
        let lookups = c.hits + c.misses;
        writeln!(
            out,
            "# HELP zhenwei_catalog_hit_ratio Hits over all catalog lookups since start."
        )?;
        writeln!(out, "# TYPE zhenwei_catalog_hit_ratio gauge")?;
        writeln!(
            out,
            "zhenwei_catalog_hit_ratio {}",
            if lookups == 0 {
                0.0
            } else {
                c.hits as f64 / lookups as f64
            }
        )?;

        let r = core.verifier.recorder().stats();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        for (name, help, value) in [
            (
                "zhenwei_recorder_batches_total",
                "Write transactions (group commits) of query events.",
                load(&r.batches),
            ),
            (
                "zhenwei_recorder_events_total",
                "Query events recorded durably.",
                load(&r.events),
            ),
            (
                "zhenwei_recorder_failed_batches_total",
                "Batches that failed and were retried query by query.",
                load(&r.failed_batches),
            ),
            (
                "zhenwei_recorder_reresolved_total",
                "Queries resolved again because the catalog changed meanwhile.",
                load(&r.reresolved),
            ),
        ] {
            writeln!(out, "# HELP {name} {help}")?;
            writeln!(out, "# TYPE {name} counter")?;
            writeln!(out, "{name} {value}")?;
        }
        writeln!(
            out,
            "# HELP zhenwei_recorder_queue_depth Queries waiting to be recorded."
        )?;
        writeln!(out, "# TYPE zhenwei_recorder_queue_depth gauge")?;
        writeln!(
            out,
            "zhenwei_recorder_queue_depth {}",
            r.queued.load(Ordering::Relaxed).max(0)
        )?;
        writeln!(
            out,
            "# HELP zhenwei_recorder_batch_size Queries per group commit."
        )?;
        writeln!(out, "# TYPE zhenwei_recorder_batch_size histogram")?;
        for (i, bound) in BATCH_BUCKETS.iter().enumerate() {
            writeln!(
                out,
                "zhenwei_recorder_batch_size_bucket{{le=\"{bound}\"}} {}",
                load(&r.batch_sizes[i])
            )?;
        }
        writeln!(
            out,
            "zhenwei_recorder_batch_size_bucket{{le=\"+Inf\"}} {}",
            load(&r.batches)
        )?;
        writeln!(out, "zhenwei_recorder_batch_size_sum {}", load(&r.events))?;
        writeln!(
            out,
            "zhenwei_recorder_batch_size_count {}",
            load(&r.batches)
        )?;
        crate::sms::render_metrics(out)?;
        crate::delivery::STATS.write(out)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_routes_share_one_label() {
        assert_eq!(ROUTES[route_index("/etc/passwd")], "other");
        assert_eq!(ROUTES[route_index("/v1/verify")], "/v1/verify");
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.observe("/v1/verify", 200, Duration::from_micros(300));
        m.observe("/v1/verify", 200, Duration::from_millis(3));
        m.observe("/v1/verify", 400, Duration::from_secs(10));
        let r = &m.routes[0];
        assert_eq!(r.buckets[0].load(Ordering::Relaxed), 1); // ≤ 0.5 ms
        assert_eq!(r.buckets[3].load(Ordering::Relaxed), 2); // ≤ 5 ms
        assert_eq!(r.buckets[11].load(Ordering::Relaxed), 2); // ≤ 5 s
        assert_eq!(r.count.load(Ordering::Relaxed), 3);
        let s = m.statuses.lock().unwrap();
        assert_eq!(s.get(&(0, 200)), Some(&2));
        assert_eq!(s.get(&(0, 400)), Some(&1));
    }
}
