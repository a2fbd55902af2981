//! Ctrl-C (and, for servers, SIGTERM) as a stream of interrupts the commands wait on.

use std::io;

/// The interrupts this process receives from now on: SIGINT (Ctrl-C), and SIGTERM when asked
/// for with [`with_terminate`](Self::with_terminate).
///
/// Creating it installs the handlers at once, so an interrupt that arrives after `new`
/// returns is never lost and no longer kills the process: the command decides what it means.
pub(crate) struct Interrupts {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
    #[cfg(windows)]
    interrupt: tokio::signal::windows::CtrlC,
}

impl Interrupts {
    pub(crate) fn new() -> io::Result<Self> {
        Ok(Self {
            #[cfg(unix)]
            interrupt: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?,
            #[cfg(unix)]
            terminate: None,
            #[cfg(windows)]
            interrupt: tokio::signal::windows::ctrl_c()?,
        })
    }

    /// Also counts SIGTERM (what service managers send to stop a process) as an interrupt.
    pub(crate) fn with_terminate(self) -> io::Result<Self> {
        #[cfg(unix)]
        {
            let terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            Ok(Self {
                terminate: Some(terminate),
                ..self
            })
        }
        #[cfg(not(unix))]
        Ok(self)
    }

    /// Waits for the next interrupt.
    pub(crate) async fn next(&mut self) {
        #[cfg(unix)]
        {
            let terminated = async {
                match &mut self.terminate {
                    Some(terminate) => terminate.recv().await,
                    None => std::future::pending().await,
                }
            };
            let received = tokio::select! {
                received = self.interrupt.recv() => received,
                received = terminated => received,
            };
            if received.is_none() {
                std::future::pending::<()>().await;
            }
        }
        #[cfg(windows)]
        {
            if self.interrupt.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        #[cfg(not(any(unix, windows)))]
        std::future::pending::<()>().await;
    }
}
