//! Fitting the connection cap to the process's file-descriptor limit, so that a flood of
//! connections meets the cap (back-pressure) before `accept` meets EMFILE.

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Descriptors kept free for the database, log files, CA keys and outgoing connections.
const RESERVED: u64 = 32;

/// Raises the soft limit on open files to the hard limit (as Go and systemd services do) and
/// returns the soft limit now in force; `None` where it is unlimited.
pub fn raise_open_files_limit() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return limit.maximum;
        }
    }
    limit.current
}

/// The number of connections a listener may hold: `wanted`, lowered so that all listeners'
/// connections together leave [`RESERVED`] descriptors free under `open_files`.
pub fn connection_cap(wanted: usize, open_files: Option<u64>, listeners: usize) -> usize {
    let Some(open_files) = open_files else {
        return wanted;
    };
    let listeners = listeners.max(1) as u64;
    let available = open_files.saturating_sub(RESERVED) / listeners;
    let available = usize::try_from(available).unwrap_or(usize::MAX);
    wanted.min(available).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_fits_the_descriptor_limit() {
        assert_eq!(connection_cap(4096, None, 2), 4096);
        assert_eq!(connection_cap(4096, Some(1_048_576), 2), 4096);
        assert_eq!(connection_cap(4096, Some(1024), 1), 992);
        assert_eq!(connection_cap(4096, Some(96), 2), 32);
        assert_eq!(connection_cap(4096, Some(16), 1), 1);
    }
}
