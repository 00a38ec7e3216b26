//! Liveness: the daemon's own check that it is not frozen, and systemd's watchdog.
//!
//! Probes report heartbeats to a [`Liveness`] registry; the watchdog task looks at it
//! every quarter of `[daemon] watchdog`. A probe with no heartbeat for the whole
//! `watchdog` time is logged at ERROR (once per episode, and again when it recovers).
//! Under systemd (`Type=notify`, `$NOTIFY_SOCKET`), the daemon sends `READY=1` once
//! started, `WATCHDOG=1` only while every probe is live (so systemd restarts a frozen
//! daemon after `WatchdogSec=`), and `STOPPING=1` at shutdown.
//!
//! Probes today: `runtime` (the watchdog task itself is scheduled) and `store` (a
//! flush through the store's single flusher completes — the sled freeze of issue 9
//! stops it).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::store::Store;

/// The heartbeat registry.
#[derive(Default)]
pub struct Liveness {
    beats: Mutex<BTreeMap<&'static str, Instant>>,
}

impl Liveness {
    /// Records progress of `probe` now.
    pub fn beat(&self, probe: &'static str) {
        self.beats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(probe, Instant::now());
    }

    /// Probes with no heartbeat for `limit` or longer.
    pub fn stale(&self, limit: Duration) -> Vec<&'static str> {
        let now = Instant::now();
        self.beats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, at)| now.duration_since(**at) >= limit)
            .map(|(name, _)| *name)
            .collect()
    }
}

/// Sends a state to systemd when `$NOTIFY_SOCKET` is set (the sd_notify datagram
/// protocol); does nothing otherwise. Failures are logged, never fatal.
pub fn sd_notify(state: &str) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    #[cfg(unix)]
    {
        use std::os::unix::net::UnixDatagram;
        let sent = UnixDatagram::unbound().and_then(|sock| {
            let bytes = socket.as_encoded_bytes();
            #[cfg(target_os = "linux")]
            if let Some(name) = bytes.strip_prefix(b"@") {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                return sock.send_to_addr(state.as_bytes(), &addr);
            }
            sock.send_to(state.as_bytes(), std::path::Path::new(&socket))
        });
        if let Err(err) = sent {
            tracing::warn!(error = %err, state, "cannot notify systemd");
        }
    }
    #[cfg(not(unix))]
    let _ = (socket, state);
}

/// How often to ping systemd: half of `$WATCHDOG_USEC` when set.
fn systemd_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    Some(Duration::from_micros(usec) / 2)
}

/// Runs the probes and the check until `stop` resolves.
pub async fn run(store: Store, limit: Duration, stop: impl Future<Output = ()>) {
    let liveness = Arc::new(Liveness::default());
    let period = systemd_interval().map_or(limit / 4, |sd| sd.min(limit / 4));
    liveness.beat("runtime");
    liveness.beat("store");
    let mut flushing: Option<tokio::task::JoinHandle<()>> = None;
    let mut reported: Vec<&'static str> = Vec::new();
    tokio::pin!(stop);
    loop {
        liveness.beat("runtime");
        // One flush probe at a time: a hung one stays hung and goes stale.
        if flushing.as_ref().is_none_or(|h| h.is_finished()) {
            let (store, liveness) = (store.clone(), liveness.clone());
            flushing = Some(tokio::spawn(async move {
                if store.flush().await.is_ok() {
                    liveness.beat("store");
                }
            }));
        }
        let stale = liveness.stale(limit);
        for probe in stale.iter().filter(|p| !reported.contains(p)) {
            tracing::error!(
                probe,
                ?limit,
                "no progress within the watchdog time; the daemon may be frozen"
            );
        }
        for probe in reported.iter().filter(|p| !stale.contains(p)) {
            tracing::info!(probe, "making progress again");
        }
        if stale.is_empty() {
            sd_notify("WATCHDOG=1");
        }
        reported = stale;
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(period) => {}
        }
    }
    if let Some(probe) = flushing {
        probe.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_probe_without_heartbeats_goes_stale_and_recovers() {
        let liveness = Liveness::default();
        let limit = Duration::from_secs(120);
        liveness.beat("store");
        liveness.beat("runtime");
        tokio::time::advance(Duration::from_secs(60)).await;
        liveness.beat("runtime");
        assert!(liveness.stale(limit).is_empty());
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(liveness.stale(limit), ["store"]);
        liveness.beat("store");
        assert!(liveness.stale(limit).is_empty());
    }
}
