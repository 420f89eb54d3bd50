//! Prometheus counters for the gateway, rendered in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Request counts by route and status, latency totals, upstream failures.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency_micros: AtomicU64,
    latency_count: AtomicU64,
    upstream_failures: AtomicU64,
}

impl Metrics {
    pub(crate) fn record(&self, route: &str, status: u16, micros: u64) {
        if let Ok(mut r) = self.requests.lock() {
            *r.entry((route.to_string(), status)).or_default() += 1;
        }
        self.latency_micros.fetch_add(micros, Ordering::Relaxed);
        self.latency_count.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn upstream_failed(&self) {
        self.upstream_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition, with the revocation set's size and freshness.
    pub fn render(&self, revoked: usize, feed_age_seconds: Option<f64>) -> String {
        let mut out = String::new();
        out.push_str("# HELP inkan_gateway_requests_total Requests by route and status.\n");
        out.push_str("# TYPE inkan_gateway_requests_total counter\n");
        if let Ok(r) = self.requests.lock() {
            for ((route, status), n) in r.iter() {
                let route = route.replace('\\', "\\\\").replace('"', "\\\"");
                let _ = writeln!(
                    out,
                    "inkan_gateway_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP inkan_gateway_request_seconds Time from request to response head.\n\
             # TYPE inkan_gateway_request_seconds summary\n\
             inkan_gateway_request_seconds_sum {}\ninkan_gateway_request_seconds_count {}",
            self.latency_micros.load(Ordering::Relaxed) as f64 / 1e6,
            self.latency_count.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP inkan_gateway_upstream_failures_total Upstream connection failures and timeouts.\n\
             # TYPE inkan_gateway_upstream_failures_total counter\n\
             inkan_gateway_upstream_failures_total {}",
            self.upstream_failures.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP inkan_gateway_revoked_certificates Serials in the revocation set.\n\
             # TYPE inkan_gateway_revoked_certificates gauge\n\
             inkan_gateway_revoked_certificates {revoked}"
        );
        if let Some(age) = feed_age_seconds {
            let _ = writeln!(
                out,
                "# HELP inkan_gateway_feed_age_seconds Seconds since the revocation feed was last heard.\n\
                 # TYPE inkan_gateway_feed_age_seconds gauge\n\
                 inkan_gateway_feed_age_seconds {age}"
            );
        }
        out
    }
}
