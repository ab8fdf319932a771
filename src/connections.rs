//! The accept loop: ours rather than `axum::serve`'s, for what that one cannot bound. A
//! connection must send each request head within the header timeout, counted from when the
//! server starts waiting for it, so an idle keep-alive connection is closed after it too; and at
//! most `max_connections` are open. At the limit a new connection is not refused: the one that
//! has waited longest for a request head (a slowloris trickling bytes, an idle keep-alive) is
//! closed to make room, so connections that send nothing useful cannot lock callers out. A
//! connection with a request in flight is never closed for room; when every one is busy, the
//! newcomer is.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::Router;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// How long a connection may hold the server without a request, and how many may.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets every connection finish
/// the request it is serving and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let open = Arc::new(Open::default());
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut accept_failing = false;
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors, say: try again shortly, and say so once.
                Err(e) => {
                    if !std::mem::replace(&mut accept_failing, true) {
                        tracing::warn!("cannot accept connections: {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        accept_failing = false;
        while connections.try_join_next().is_some() {}
        let Some(slot) = Open::admit(&open, limits.max_connections) else {
            // Every connection has a request in flight: this one waits its turn elsewhere.
            continue;
        };
        connections.spawn(connection(
            stream,
            router.clone(),
            slot,
            stopped.clone(),
            limits.header_timeout,
        ));
    }
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
}

/// Serves one connection until it closes, is chosen to make room, or the server stops.
async fn connection(
    stream: TcpStream,
    router: Router,
    slot: Slot,
    mut stopped: watch::Receiver<bool>,
    header_timeout: Duration,
) {
    let _ = stream.set_nodelay(true);
    let state = Arc::clone(&slot.state);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let busy = Busy::start(&state);
        let router = router.clone();
        async move {
            let response = router
                .oneshot(request.map(Body::new))
                .await
                .unwrap_or_else(|never: Infallible| match never {});
            // Busy until the last byte of the body is sent (or the body is dropped).
            Ok::<_, Infallible>(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _still_busy = &busy;
                    frame
                }))
            }))
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        () = slot.state.evict.notified() => {
            // Chosen while idle, and still idle: closed at once (a half-sent head is dropped).
            if slot.state.in_flight.load(SeqCst) == 0 {
                return;
            }
        }
        _ = stopped.wait_for(|stop| *stop) => {}
    }
    // Serving a request: closed once it is answered.
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// The open connections, each with whether it has a request in flight and since when it has
/// waited for one.
struct Open {
    connections: Mutex<HashMap<u64, Arc<SlotState>>>,
    next: AtomicU64,
    /// When this table was made: `SlotState::waiting_since` counts from it.
    epoch: Instant,
}

impl Default for Open {
    fn default() -> Self {
        Open {
            connections: Mutex::default(),
            next: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

struct SlotState {
    in_flight: AtomicUsize,
    /// Microseconds from the table's epoch to when the connection last began waiting for a
    /// request.
    waiting_since: AtomicU64,
    epoch: Instant,
    evict: Notify,
}

impl SlotState {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

impl Open {
    /// A place for a new connection: at the limit, the longest-waiting idle connection is told
    /// to close; `None` when every open connection is serving a request.
    fn admit(open: &Arc<Open>, max: usize) -> Option<Slot> {
        let mut connections = open.connections.lock().expect("connections lock");
        if connections.len() >= max {
            let (&victim, _) = connections
                .iter()
                .filter(|(_, state)| state.in_flight.load(SeqCst) == 0)
                .min_by_key(|(_, state)| state.waiting_since.load(SeqCst))?;
            if let Some(state) = connections.remove(&victim) {
                state.evict.notify_one();
            }
        }
        let id = open.next.fetch_add(1, SeqCst);
        let state = Arc::new(SlotState {
            in_flight: AtomicUsize::new(0),
            waiting_since: AtomicU64::new(0),
            epoch: open.epoch,
            evict: Notify::new(),
        });
        state.waiting_since.store(state.now(), SeqCst);
        connections.insert(id, Arc::clone(&state));
        Some(Slot {
            open: Arc::clone(open),
            id,
            state,
        })
    }
}

/// One connection's place among the open ones, given back when it closes.
struct Slot {
    open: Arc<Open>,
    id: u64,
    state: Arc<SlotState>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open
            .connections
            .lock()
            .expect("connections lock")
            .remove(&self.id);
    }
}

/// A request in flight on a connection, until dropped.
struct Busy(Arc<SlotState>);

impl Busy {
    fn start(state: &Arc<SlotState>) -> Self {
        state.in_flight.fetch_add(1, SeqCst);
        Busy(Arc::clone(state))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, SeqCst) == 1 {
            self.0.waiting_since.store(self.0.now(), SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_limit_the_longest_idle_connection_makes_room() {
        let open = Arc::new(Open::default());
        let first = Open::admit(&open, 2).unwrap();
        let second = Open::admit(&open, 2).unwrap();
        let _serving = Busy::start(&first.state);
        // The first is busy: the second, idle, makes room.
        let third = Open::admit(&open, 2).unwrap();
        assert!(!open.connections.lock().unwrap().contains_key(&second.id));
        // Both left are busy: a newcomer is refused.
        let _also_serving = Busy::start(&third.state);
        assert!(Open::admit(&open, 2).is_none());
        drop(_serving);
        assert!(Open::admit(&open, 2).is_some(), "the first is idle again");
    }
}
