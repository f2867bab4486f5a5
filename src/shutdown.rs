//! Graceful shutdown: one trigger (SIGTERM/SIGINT or a test) broadcasts to every task; a task that sees
//! it stops taking new input and lets what it already read flow to storage.

use tokio::sync::watch;

/// The sending side; dropping it does not trigger shutdown.
#[derive(Debug)]
pub struct Trigger(watch::Sender<bool>);

/// A task's view of the signal.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Shutdown(rx))
}

impl Trigger {
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }

    pub fn subscribe(&self) -> Shutdown {
        Shutdown(self.0.subscribe())
    }

    /// Fires on the first SIGTERM or SIGINT.
    pub fn on_signals(self) -> Shutdown {
        let rx = self.subscribe();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown signal received: flushing and stopping");
            self.fire();
            // Keep the sender alive so receivers don't see a closed channel as a signal.
            std::future::pending::<()>().await;
        });
        rx
    }
}

impl Shutdown {
    pub fn is_shutdown(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once shutdown is triggered (or every trigger is gone).
    pub async fn recv(&mut self) {
        let _ = self.0.wait_for(|v| *v).await;
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
