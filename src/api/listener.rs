//! The control API's listener: a connection cap and two timeouts, so idle or slow
//! clients (no token needed to connect) cannot use up the daemon's file handles.
//!
//! - `[api] max_connections`: connections beyond it are closed as soon as they are
//!   accepted (the CLI's request fails at once and can be retried).
//! - `[api] idle_timeout`: a connection that moves no byte either way for this long
//!   is closed (a kept-alive connection between requests, a stalled request).
//! - `[api] request_timeout`: each request must be read and answered within this
//!   time, counted from connecting or from the previous answer (a client sending its
//!   headers one byte at a time is closed).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::config::ApiConfig;

/// How long accept pauses after a local error (e.g. out of file handles).
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// A TCP listener that enforces the cap and hands out [`Guarded`] connections.
pub struct CappedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    idle: Duration,
    request: Duration,
}

impl CappedListener {
    pub fn new(inner: TcpListener, api: &ApiConfig) -> CappedListener {
        CappedListener {
            inner,
            slots: Arc::new(Semaphore::new(api.max_connections)),
            idle: api.idle_timeout.as_duration(),
            request: api.request_timeout.as_duration(),
        }
    }
}

impl Listener for CappedListener {
    type Io = Guarded;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Guarded, SocketAddr) {
        loop {
            let (stream, peer) = match self.inner.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "control API cannot accept a connection; retrying");
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                    continue;
                }
            };
            match self.slots.clone().try_acquire_owned() {
                Ok(permit) => {
                    return (Guarded::new(stream, permit, self.idle, self.request), peer);
                }
                Err(_) => {
                    tracing::warn!(%peer, "control API connection cap reached; closing a new connection");
                    drop(stream);
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// The peer's address, for the API's logs ([`axum::extract::ConnectInfo`]).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl Connected<IncomingStream<'_, CappedListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, CappedListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

/// An accepted connection: holds its slot until dropped, and fails its IO with
/// `TimedOut` when a timeout passes (hyper then closes it).
pub struct Guarded {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
    idle: Duration,
    request: Duration,
    idle_timer: Pin<Box<Sleep>>,
    request_timer: Pin<Box<Sleep>>,
    /// Set once a response byte was written; the request deadline restarts at the
    /// next byte read after it.
    answered: bool,
}

impl Guarded {
    fn new(
        stream: TcpStream,
        slot: OwnedSemaphorePermit,
        idle: Duration,
        request: Duration,
    ) -> Guarded {
        let now = Instant::now();
        Guarded {
            stream,
            _slot: slot,
            idle,
            request,
            idle_timer: Box::pin(tokio::time::sleep_until(now + idle)),
            request_timer: Box::pin(tokio::time::sleep_until(now + request)),
            answered: false,
        }
    }

    fn progressed(&mut self, wrote: bool) {
        let now = Instant::now();
        self.idle_timer.as_mut().reset(now + self.idle);
        if wrote {
            self.answered = true;
        } else if self.answered {
            // The first byte of the next request on a kept-alive connection.
            self.answered = false;
            self.request_timer.as_mut().reset(now + self.request);
        }
    }

    /// `Err(TimedOut)` when a deadline has passed; registers the timers otherwise.
    fn expired(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let idle = self.idle_timer.as_mut().poll(cx).is_ready();
        // Between an answer and the next request only the idle timeout applies.
        let request = !self.answered && self.request_timer.as_mut().poll(cx).is_ready();
        if idle || request {
            let which = if idle { "idle" } else { "request" };
            tracing::debug!(which, "control API connection timed out; closing it");
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("control API connection {which} timeout"),
            ));
        }
        Ok(())
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.progressed(false);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => {
                this.expired(cx)?;
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(Pin::new(&mut this.stream).poll_write(cx, buf))?;
        if written > 0 {
            this.progressed(true);
        }
        Poll::Ready(Ok(written))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HumanDuration;
    use axum::Router;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves `GET /` on 127.0.0.1:0 with a cap of 8 and 1 s / 2 s timeouts.
    async fn serve() -> SocketAddr {
        let api = ApiConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            max_connections: 8,
            idle_timeout: HumanDuration::from_secs(1),
            request_timeout: HumanDuration::from_secs(2),
            ..ApiConfig::default()
        };
        let listener = CappedListener::new(TcpListener::bind(api.bind).await.unwrap(), &api);
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/", get(|| async { "ok" }));
        tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<Peer>()).await
        });
        addr
    }

    /// Reads until the server closes the connection; `None` if it stays open for
    /// `guard` (a guard against a hang, not a timing claim).
    async fn closed_within(stream: &mut TcpStream, guard: Duration) -> Option<()> {
        let mut buf = [0u8; 64];
        tokio::time::timeout(guard, async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .ok()
    }

    async fn get_ok(addr: SocketAddr) -> bool {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            return false;
        };
        let request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        if stream.write_all(request).await.is_err() {
            return false;
        }
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200")
    }

    #[tokio::test]
    async fn idle_connections_are_capped_and_closed_and_requests_still_work() {
        let addr = serve().await;
        let mut idle = Vec::new();
        for _ in 0..100 {
            idle.push(TcpStream::connect(addr).await.unwrap());
        }
        // All but the first 8 are closed at once, the 8 after the idle timeout.
        let mut closed = 0;
        for stream in &mut idle {
            if closed_within(stream, Duration::from_secs(20))
                .await
                .is_some()
            {
                closed += 1;
            }
        }
        assert_eq!(closed, 100, "every idle connection is closed by the server");
        // The slots are free again: a legitimate request is answered.
        assert!(
            get_ok(addr).await,
            "a request after the idle flood succeeds"
        );
    }

    #[tokio::test]
    async fn a_client_trickling_its_headers_is_closed() {
        let addr = serve().await;
        let mut slow = TcpStream::connect(addr).await.unwrap();
        let trickle = async {
            // One byte every 300 ms keeps the idle timer happy, never ends the headers.
            for byte in b"GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                .iter()
                .cycle()
            {
                if slow.write_all(&[*byte]).await.is_err() {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            false
        };
        let closed = tokio::time::timeout(Duration::from_secs(20), trickle).await;
        assert_eq!(closed, Ok(true), "the request timeout closes a slow client");
        assert!(
            get_ok(addr).await,
            "other clients are served meanwhile and after"
        );
    }
}
