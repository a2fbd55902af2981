//! Ctrl-C, as a stream of interrupts the commands wait on.

use std::io;

/// The interrupts (SIGINT, Ctrl-C) this process receives from now on.
///
/// Creating it installs the handler at once, so an interrupt that arrives after `new`
/// returns is never lost and no longer kills the process: the command decides what it means.
pub(crate) struct Interrupts {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
    #[cfg(windows)]
    signal: tokio::signal::windows::CtrlC,
}

impl Interrupts {
    pub(crate) fn new() -> io::Result<Self> {
        Ok(Self {
            #[cfg(unix)]
            signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?,
            #[cfg(windows)]
            signal: tokio::signal::windows::ctrl_c()?,
        })
    }

    /// Waits for the next interrupt.
    pub(crate) async fn next(&mut self) {
        #[cfg(any(unix, windows))]
        {
            if self.signal.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        #[cfg(not(any(unix, windows)))]
        std::future::pending::<()>().await;
    }
}
