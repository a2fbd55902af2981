//! The socket as hyper sees it: reads and flushes are reported to the connection's
//! [`Activity`], and hyper's own error responses get Baton's JSON body.
//!
//! hyper answers some requests without calling the service: when a request's head cannot be
//! parsed (400: a malformed request line, header or `Content-Length`), is longer than its
//! buffer or has more headers than it accepts (431), or has a target over 64 KiB (414). It
//! writes such a response with an empty body and closes the connection, and has no hook to
//! change it. These are the only bytes hyper writes while the connection is idle (no request
//! in progress, its last response flushed), so this wrapper recognises them there: it keeps
//! what hyper writes while idle until the end of the head, and if it is an error status line,
//! writes the same status with [`ApiError::for_status`]'s JSON body instead.
//!
//! One case keeps hyper's empty body: a malformed request pipelined behind another, whose
//! error hyper writes in the same flush as the end of the previous response.

use super::activity::Activity;
use crate::error::ApiError;
use axum::http::StatusCode;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The most bytes of a response written while idle that are held to find its head's end; a
/// head of hyper's own is far shorter.
const MAX_HELD_BYTES: usize = 4 * 1024;

/// A connection's socket, observed.
#[derive(Debug)]
pub(crate) struct ObservedIo {
    stream: TcpStream,
    activity: Arc<Activity>,
    held: Held,
}

/// What hyper wrote while the connection was idle.
#[derive(Debug)]
enum Held {
    /// Nothing: writes go straight to the socket.
    Nothing,
    /// The beginning of a response, until its head is complete.
    Head(Vec<u8>),
    /// Bytes to write before anything else: the JSON response (or hyper's own, if it was not
    /// an error head).
    Pending { bytes: Vec<u8>, written: usize },
}

impl ObservedIo {
    pub(crate) fn new(stream: TcpStream, activity: Arc<Activity>) -> Self {
        Self {
            stream,
            activity,
            held: Held::Nothing,
        }
    }

    /// The socket, for writing a last response after hyper let go of the connection.
    pub(crate) fn into_stream(self) -> TcpStream {
        self.stream
    }

    /// Keeps `bufs`, written while idle, and once the head is whole decides what to write.
    fn hold(&mut self, bufs: &[IoSlice<'_>]) -> usize {
        let Held::Head(head) = &mut self.held else {
            return 0;
        };
        let mut taken = 0;
        for buf in bufs {
            head.extend_from_slice(buf);
            taken += buf.len();
        }
        if let Some(end) = find_head_end(head) {
            let bytes = if end == head.len() {
                json_replacement(head).unwrap_or_else(|| std::mem::take(head))
            } else {
                std::mem::take(head)
            };
            self.held = Held::Pending { bytes, written: 0 };
        } else if head.len() > MAX_HELD_BYTES {
            self.release();
        }
        taken
    }

    /// Gives up holding: what was held is written as hyper wrote it.
    fn release(&mut self) {
        if let Held::Head(head) = &mut self.held {
            let bytes = std::mem::take(head);
            self.held = Held::Pending { bytes, written: 0 };
        }
    }

    /// Writes what is pending, if anything.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Held::Pending { bytes, written } = &mut self.held {
            while *written < bytes.len() {
                let wrote = ready!(Pin::new(&mut self.stream).poll_write(cx, &bytes[*written..]))?;
                if wrote == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                *written += wrote;
            }
            self.held = Held::Nothing;
        }
        Poll::Ready(Ok(()))
    }

    /// Whether this write goes straight to the socket; otherwise it starts or continues a held
    /// head.
    fn passes_through(&mut self) -> bool {
        match self.held {
            Held::Nothing if self.activity.is_idle() => {
                self.held = Held::Head(Vec::new());
                false
            }
            Held::Nothing => true,
            _ => false,
        }
    }
}

/// Where the head in `bytes` ends (after its blank line), if it does.
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|start| start + 4)
}

/// The JSON response for the head `head`, if it is hyper's bodiless error response.
fn json_replacement(head: &[u8]) -> Option<Vec<u8>> {
    let code = head.strip_prefix(b"HTTP/1.")?.get(2..5)?;
    let status = StatusCode::from_bytes(code).ok()?;
    (status.is_client_error() || status.is_server_error())
        .then(|| ApiError::for_status(status).to_http1_bytes())
}

impl AsyncRead for ObservedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.stream).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            this.activity.on_read();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ObservedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if this.passes_through() {
            return Pin::new(&mut this.stream).poll_write(cx, buf);
        }
        Poll::Ready(Ok(this.hold(&[IoSlice::new(buf)])))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if this.passes_through() {
            return Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        }
        Poll::Ready(Ok(this.hold(bufs)))
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.release();
        ready!(this.poll_pending(cx))?;
        ready!(Pin::new(&mut this.stream).poll_flush(cx))?;
        this.activity.on_flushed();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.release();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_error_heads_are_replaced_by_json_responses() {
        let canned = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        let replaced = String::from_utf8(json_replacement(canned).unwrap()).unwrap();
        assert!(replaced.starts_with("HTTP/1.1 431 "), "{replaced}");
        assert!(replaced.contains("\"headers_too_large\""), "{replaced}");
        assert_eq!(find_head_end(canned), Some(canned.len()));

        assert!(json_replacement(b"HTTP/1.1 200 OK\r\n\r\n").is_none());
        assert!(json_replacement(b"{\"not\": \"a head\"}").is_none());
        assert!(json_replacement(b"HTTP/1.1 4").is_none());
    }
}
