//! An in-memory loopback: the simulated gateway serves on a [`PipeListener`]
//! and the gateway source dials the [`Pipe`], with no socket between them.
//! On a paused clock only wakeups move a test forward, so a whole sidecar
//! runs deterministically (a real socket lets tokio advance time while
//! bytes are in flight).

use std::net::{Ipv4Addr, SocketAddr};
use tokio::io::DuplexStream;
use tokio::sync::mpsc;

/// Bytes buffered each way per connection.
const BUFFER: usize = 1 << 20;

/// The dialling end; cheap to clone.
#[derive(Clone, Debug)]
pub struct Pipe(mpsc::UnboundedSender<DuplexStream>);

/// The accepting end, an [`axum::serve::Listener`].
#[derive(Debug)]
pub struct PipeListener(mpsc::UnboundedReceiver<DuplexStream>);

/// A connected pair of ends.
pub fn pipe() -> (Pipe, PipeListener) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Pipe(tx), PipeListener(rx))
}

impl Pipe {
    /// A new connection to the listener.
    pub fn connect(&self) -> std::io::Result<DuplexStream> {
        let (ours, theirs) = tokio::io::duplex(BUFFER);
        self.0.send(theirs).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "the in-memory listener is gone",
            )
        })?;
        Ok(ours)
    }
}

impl axum::serve::Listener for PipeListener {
    type Io = DuplexStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.0.recv().await {
            Some(io) => (io, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
            // Nobody can dial any more: nothing will ever arrive.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
    }
}
