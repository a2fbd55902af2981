//! Logs on standard error, every line [redacted](baton_core::redact) before it is written:
//! whatever a library at any level puts in a log line (`RUST_LOG=trace` included), no secret
//! the process holds reaches the terminal or a log file.

use std::io::{self, Write};
use tracing_subscriber::fmt::MakeWriter;

/// Starts logging: warnings and up unless `RUST_LOG` says otherwise.
pub(crate) fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactedStderr)
        .init();
}

/// Makes a [`RedactedLine`] per log event.
struct RedactedStderr;

impl<'a> MakeWriter<'a> for RedactedStderr {
    type Writer = RedactedLine;

    fn make_writer(&'a self) -> Self::Writer {
        RedactedLine(Vec::new())
    }
}

/// One event's formatted text, redacted and written to standard error in one piece when the
/// formatter is done with it (the formatter writes an event, then drops its writer).
struct RedactedLine(Vec<u8>);

impl Write for RedactedLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.0);
        let redacted = baton_core::redact::redact(&text);
        let result = io::stderr().lock().write_all(redacted.as_bytes());
        self.0.clear();
        result
    }
}

impl Drop for RedactedLine {
    fn drop(&mut self) {
        // Nowhere to report a failure to write a log line.
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_kept_whole_until_flushed() {
        let mut line = RedactedLine(Vec::new());
        line.write_all(b"Authorization: Bearer abcdefgh").unwrap();
        line.write_all(b"12345678\n").unwrap();
        assert_eq!(line.0, b"Authorization: Bearer abcdefgh12345678\n");
        line.0.clear();
    }
}
