//! What the authority counts for operators: issuance, registration and revocation by kind,
//! latencies, group-commit batches, database errors and OCSP cache use, rendered in the
//! Prometheus text format for `/metrics` on the admin listener. Each replica counts its own;
//! Prometheus sums them.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use inkan_store::StoreError;

/// Latency buckets, seconds.
const SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Batch-size buckets.
const SIZES: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// A Prometheus histogram with fixed buckets.
#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], value: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; bounds.len()];
        }
        for (bound, n) in bounds.iter().zip(&mut self.counts) {
            if value <= *bound {
                *n += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str, bounds: &[f64]) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, bound) in bounds.iter().enumerate() {
            let n = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// The authority's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    issued: Mutex<BTreeMap<(String, String), u64>>,
    issue_seconds: Mutex<BTreeMap<String, Histogram>>,
    registrations: Mutex<BTreeMap<&'static str, u64>>,
    revocations: AtomicU64,
    commits: Mutex<BTreeMap<&'static str, (Histogram, Histogram)>>,
    store_errors: Mutex<BTreeMap<&'static str, u64>>,
    ocsp_hits: AtomicU64,
    ocsp_misses: AtomicU64,
}

/// `"` and `\` escaped for a label value.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

impl Metrics {
    /// A certificate recorded, by enrollment method and profile.
    pub(crate) fn issued(&self, method: &str, profile: &str) {
        if let Ok(mut m) = self.issued.lock() {
            *m.entry((method.to_string(), profile.to_string()))
                .or_default() += 1;
        }
    }

    /// How long one issuance took, from the request to the committed certificate.
    pub(crate) fn issue_took(&self, method: &str, took: Duration) {
        if let Ok(mut m) = self.issue_seconds.lock() {
            m.entry(method.to_string())
                .or_default()
                .observe(SECONDS, took.as_secs_f64());
        }
    }

    /// A registration answered, by outcome.
    pub(crate) fn registered(&self, outcome: &'static str) {
        if let Ok(mut m) = self.registrations.lock() {
            *m.entry(outcome).or_default() += 1;
        }
    }

    /// Certificates revoked through this replica (cascades included).
    pub(crate) fn revoked(&self, n: u64) {
        self.revocations.fetch_add(n, Ordering::Relaxed);
    }

    /// A group commit of `writer` ("certificates", "registrations"): its size and duration.
    pub(crate) fn committed(&self, writer: &'static str, size: usize, took: Duration) {
        if let Ok(mut m) = self.commits.lock() {
            let (sizes, seconds) = m.entry(writer).or_default();
            sizes.observe(SIZES, size as f64);
            seconds.observe(SECONDS, took.as_secs_f64());
        }
    }

    /// A database operation that failed, by kind.
    pub(crate) fn store_failed(&self, error: &StoreError) {
        let kind = match error {
            StoreError::Busy(_) => "busy",
            StoreError::Unavailable(_) => "unavailable",
            StoreError::Conflict(_) => "conflict",
            _ => "other",
        };
        if let Ok(mut m) = self.store_errors.lock() {
            *m.entry(kind).or_default() += 1;
        }
    }

    /// An OCSP answer from the pre-signed cache, or one that had to be signed.
    pub(crate) fn ocsp(&self, hit: bool) {
        let counter = if hit {
            &self.ocsp_hits
        } else {
            &self.ocsp_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let help = |out: &mut String, name: &str, kind: &str, text: &str| {
            let _ = writeln!(out, "# HELP {name} {text}\n# TYPE {name} {kind}");
        };
        help(
            &mut out,
            "inkan_certificates_issued_total",
            "counter",
            "Certificates issued and committed, by enrollment method and profile.",
        );
        if let Ok(m) = self.issued.lock() {
            for ((method, profile), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "inkan_certificates_issued_total{{method=\"{}\",profile=\"{}\"}} {n}",
                    label(method),
                    label(profile)
                );
            }
        }
        help(
            &mut out,
            "inkan_issue_duration_seconds",
            "histogram",
            "Time from an issuance request to its committed certificate, by method.",
        );
        if let Ok(m) = self.issue_seconds.lock() {
            for (method, h) in m.iter() {
                let labels = format!("method=\"{}\"", label(method));
                h.render(&mut out, "inkan_issue_duration_seconds", &labels, SECONDS);
            }
        }
        help(
            &mut out,
            "inkan_registrations_total",
            "counter",
            "Device registrations answered, by outcome.",
        );
        if let Ok(m) = self.registrations.lock() {
            for (outcome, n) in m.iter() {
                let _ = writeln!(
                    out,
                    "inkan_registrations_total{{outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        help(
            &mut out,
            "inkan_revocations_total",
            "counter",
            "Certificates revoked through this replica, cascades included.",
        );
        let _ = writeln!(
            out,
            "inkan_revocations_total {}",
            self.revocations.load(Ordering::Relaxed)
        );
        help(
            &mut out,
            "inkan_commit_batch_size",
            "histogram",
            "Rows per group commit, by writer.",
        );
        let commits = self.commits.lock().map(|m| m.clone()).unwrap_or_default();
        for (writer, (sizes, _)) in &commits {
            let labels = format!("writer=\"{writer}\"");
            sizes.render(&mut out, "inkan_commit_batch_size", &labels, SIZES);
        }
        help(
            &mut out,
            "inkan_commit_duration_seconds",
            "histogram",
            "Time one group commit took (every request in the batch waited for it), by writer.",
        );
        for (writer, (_, seconds)) in &commits {
            let labels = format!("writer=\"{writer}\"");
            seconds.render(&mut out, "inkan_commit_duration_seconds", &labels, SECONDS);
        }
        help(
            &mut out,
            "inkan_store_errors_total",
            "counter",
            "Failed group commits, by kind (busy, unavailable, conflict, other).",
        );
        if let Ok(m) = self.store_errors.lock() {
            for (kind, n) in m.iter() {
                let _ = writeln!(out, "inkan_store_errors_total{{kind=\"{kind}\"}} {n}");
            }
        }
        help(
            &mut out,
            "inkan_ocsp_responses_total",
            "counter",
            "OCSP answers, from the pre-signed cache (hit) or signed on demand (miss).",
        );
        let _ = writeln!(
            out,
            "inkan_ocsp_responses_total{{cache=\"hit\"}} {}\ninkan_ocsp_responses_total{{cache=\"miss\"}} {}",
            self.ocsp_hits.load(Ordering::Relaxed),
            self.ocsp_misses.load(Ordering::Relaxed)
        );
        out
    }

    /// [`Self::render`] with the gauges read from the authority's parts at the time of the scrape.
    pub fn render_with(&self, gauges: &Gauges) -> String {
        let mut out = self.render();
        let _ = writeln!(
            out,
            "# HELP inkan_ocsp_cached_certificates Certificates with pre-signed OCSP responses in memory.\n\
             # TYPE inkan_ocsp_cached_certificates gauge\n\
             inkan_ocsp_cached_certificates {}",
            gauges.ocsp_cached_certificates
        );
        out
    }
}

/// Values read when `/metrics` is scraped rather than counted as they happen.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gauges {
    /// Certificates with pre-signed OCSP responses in memory.
    pub ocsp_cached_certificates: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_as_prometheus_text() {
        let m = Metrics::default();
        m.issued("est-secret", "device");
        m.issued("est-secret", "device");
        m.issue_took("est-secret", Duration::from_millis(3));
        m.committed("certificates", 17, Duration::from_millis(2));
        m.store_failed(&StoreError::Busy("x".into()));
        m.ocsp(true);
        m.registered("cap_reached");
        let text = m.render();
        assert!(text.contains(
            "inkan_certificates_issued_total{method=\"est-secret\",profile=\"device\"} 2"
        ));
        assert!(text.contains(
            "inkan_issue_duration_seconds_bucket{method=\"est-secret\",le=\"0.0025\"} 0"
        ));
        assert!(text
            .contains("inkan_issue_duration_seconds_bucket{method=\"est-secret\",le=\"0.005\"} 1"));
        assert!(
            text.contains("inkan_commit_batch_size_bucket{writer=\"certificates\",le=\"16\"} 0")
        );
        assert!(
            text.contains("inkan_commit_batch_size_bucket{writer=\"certificates\",le=\"32\"} 1")
        );
        assert!(text.contains("inkan_commit_batch_size_sum{writer=\"certificates\"} 17"));
        assert!(text.contains("inkan_store_errors_total{kind=\"busy\"} 1"));
        assert!(text.contains("inkan_ocsp_responses_total{cache=\"hit\"} 1"));
        let gauged = m.render_with(&Gauges {
            ocsp_cached_certificates: 7,
        });
        assert!(gauged.contains(
            "# TYPE inkan_ocsp_cached_certificates gauge\ninkan_ocsp_cached_certificates 7\n"
        ));
        assert!(text.contains("inkan_registrations_total{outcome=\"cap_reached\"} 1"));
        // Every sample line is NAME{labels} VALUE or NAME VALUE.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::default();
        m.issued("a\"b", "c\\d");
        assert!(m.render().contains("method=\"a\\\"b\",profile=\"c\\\\d\""));
    }
}
