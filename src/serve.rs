//! The HTTP listener: HTTP/1.1 with hyper's own limits set, which
//! `axum::serve` leaves open. A client has 10 s to send a request's head
//! (slow or idle clients are cut, not held), the head is at most 16 KiB,
//! at most 512 connections are served at once, and each refusal is counted
//! in `clawwatch_http_refused_total{reason}`.

use crate::metrics::{Exposition, Metrics, RefusedLabels};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Time a client has to send a request's head, also between keep-alive requests.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head (request line and headers).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Connections served at once; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 512;
/// How long open connections get to finish on shutdown.
const DRAIN: Duration = Duration::from_secs(5);

/// A TCP stream that counts the bytes read, to tell a slow client (sent
/// part of a head) from an idle one (sent nothing).
struct Counted {
    inner: TcpStream,
    read: Arc<AtomicU64>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        self.read.fetch_add(n, Ordering::Relaxed);
        r
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

fn refused(metrics: &Metrics, exposition: &Arc<Exposition>, reason: &'static str) {
    metrics
        .http_refused
        .get_or_create(&RefusedLabels { reason })
        .inc();
    exposition.touch();
    exposition.schedule();
}

/// Serves `router` on `listener` until `cancel`; HTTPS while `tls` holds an acceptor.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    tls: tokio::sync::watch::Receiver<Option<tokio_rustls::TlsAcceptor>>,
    metrics: Metrics,
    exposition: Arc<Exposition>,
    cancel: CancellationToken,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = cancel.cancelled() => break,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "Cannot accept an HTTP connection.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let read = Arc::new(AtomicU64::new(0));
        let counted = Counted {
            inner: stream,
            read: read.clone(),
        };
        let (router, m, x, c, tls) = (
            router.clone(),
            metrics.clone(),
            exposition.clone(),
            cancel.clone(),
            // A reload's web config applies from the next connection on.
            tls.borrow().clone(),
        );
        conns.spawn(async move {
            let _permit = permit;
            let Some(tls) = tls else {
                return connection(counted, peer, read, router, m, x, c).await;
            };
            // The handshake gets the same time as a request's head.
            match tokio::time::timeout(HEADER_READ_TIMEOUT, tls.accept(counted)).await {
                Ok(Ok(s)) => connection(s, peer, read, router, m, x, c).await,
                // SPEC's closed set of reasons: a client that cannot
                // complete the handshake (no or an untrusted certificate,
                // plain HTTP) is refused as unauthenticated.
                Ok(Err(_)) | Err(_) => refused(&m, &x, "auth"),
            }
        });
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

/// One HTTP/1.1 connection over `io` (plain or TLS); `read` counts the
/// bytes the client sent, to tell slow from idle.
async fn connection<I>(
    io: I,
    peer: std::net::SocketAddr,
    read: Arc<AtomicU64>,
    router: axum::Router,
    m: Metrics,
    x: Arc<Exposition>,
    c: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Bytes read when the last request's head was complete.
    let at_request = Arc::new(AtomicU64::new(0));
    let seen = at_request.clone();
    let counter = read.clone();
    let svc = tower::ServiceExt::map_request(
        router,
        move |req: hyper::Request<hyper::body::Incoming>| {
            seen.store(counter.load(Ordering::Relaxed), Ordering::Relaxed);
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut().insert(crate::server::Peer(peer));
            req
        },
    );
    let svc = hyper_util::service::TowerToHyperService::new(svc);
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_header_size(MAX_HEADER_BYTES);
    let conn = b.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let res = tokio::select! {
        r = conn.as_mut() => r,
        _ = c.cancelled() => {
            conn.as_mut().graceful_shutdown();
            match tokio::time::timeout(DRAIN, conn.as_mut()).await {
                Ok(r) => r,
                Err(_) => Ok(()),
            }
        }
    };
    if let Err(e) = res {
        if e.is_timeout() {
            // A quiet keep-alive connection closing is normal; one that
            // never sent a request, or stopped mid-head, is not.
            let got = read.load(Ordering::Relaxed);
            if got == 0 {
                refused(&m, &x, "idle");
            } else if got > at_request.load(Ordering::Relaxed) {
                refused(&m, &x, "slow");
            }
        } else if e.is_parse_too_large() {
            refused(&m, &x, "headers");
        }
    }
}
