//! The route table: host, then the longest matching path prefix.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::RouteConfig;

/// How long a failing upstream is skipped.
const DOWN_FOR: Duration = Duration::from_secs(10);

/// A route with its upstream pool.
pub(crate) struct Route {
    pub(crate) config: RouteConfig,
    next: AtomicUsize,
    down_until: Vec<Mutex<Option<Instant>>>,
}

impl Route {
    pub(crate) fn new(config: RouteConfig) -> Self {
        let down_until = config.upstreams.iter().map(|_| Mutex::new(None)).collect();
        Self {
            config,
            next: AtomicUsize::new(0),
            down_until,
        }
    }

    /// Upstream indices in round-robin order, healthy ones first.
    pub(crate) fn upstream_order(&self) -> Vec<usize> {
        let n = self.config.upstreams.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let now = Instant::now();
        let (mut healthy, mut down): (Vec<usize>, Vec<usize>) =
            (0..n).map(|i| (start + i) % n).partition(|i| {
                self.down_until[*i]
                    .lock()
                    .ok()
                    .and_then(|d| *d)
                    .is_none_or(|until| until <= now)
            });
        healthy.append(&mut down);
        healthy
    }

    /// Skips an upstream for a while after it failed.
    pub(crate) fn mark_down(&self, index: usize) {
        if let Some(slot) = self.down_until.get(index) {
            if let Ok(mut d) = slot.lock() {
                *d = Some(Instant::now() + DOWN_FOR);
            }
        }
    }

    pub(crate) fn mark_up(&self, index: usize) {
        if let Some(slot) = self.down_until.get(index) {
            if let Ok(mut d) = slot.lock() {
                *d = None;
            }
        }
    }
}

/// Finds the route for a host and path.
pub(crate) fn find<'a>(routes: &'a [Route], host: &str, path: &str) -> Option<&'a Route> {
    routes
        .iter()
        .filter(|r| {
            r.config
                .host
                .as_deref()
                .is_none_or(|h| h.eq_ignore_ascii_case(host))
        })
        .filter(|r| path.starts_with(r.config.path.as_str()))
        .max_by_key(|r| (r.config.host.is_some(), r.config.path.len()))
}
