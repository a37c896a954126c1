//! `LOCAL_LLM_MAX_CONCURRENT`: at most N backend calls in flight, the rest queued. A freed slot
//! goes to the oldest queued call for the model that ran last, because a llama-swap backend
//! serves one model at a time and every switch costs a model load; a call passed over
//! [`MAX_SKIPS`] times goes next regardless, so no model starves.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// How often the oldest queued call may be passed over for one of the loaded model.
pub(crate) const MAX_SKIPS: u32 = 4;

#[derive(Default)]
struct State {
    in_flight: usize,
    last_model: Option<String>,
    queue: Vec<Waiter>,
}

struct Waiter {
    model: String,
    skipped: u32,
    grant: oneshot::Sender<()>,
}

#[derive(Clone)]
pub(crate) struct Limiter {
    max: usize,
    state: Arc<Mutex<State>>,
}

/// A slot; dropping it hands the slot on.
pub(crate) struct Permit {
    limiter: Limiter,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.limiter.release();
    }
}

/// A queued request for a slot. If it is dropped after its grant arrived (the call was
/// cancelled at that very moment), the slot is handed on rather than lost.
struct Queued {
    limiter: Limiter,
    grant: oneshot::Receiver<()>,
}

impl Drop for Queued {
    fn drop(&mut self) {
        if self.grant.try_recv().is_ok() {
            self.limiter.release();
        }
    }
}

impl Limiter {
    pub(crate) fn new(max: usize) -> Limiter {
        Limiter {
            max: max.max(1),
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every critical section leaves the state whole, so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls queued right now.
    pub(crate) fn queued(&self) -> usize {
        self.lock().queue.len()
    }

    /// Waits for a slot for a call to `model`. Cancel-safe: dropping the future leaves the queue.
    pub(crate) async fn acquire(&self, model: &str) -> Permit {
        let grant = {
            let mut st = self.lock();
            if st.in_flight < self.max {
                st.in_flight += 1;
                st.last_model = Some(model.to_string());
                return Permit {
                    limiter: self.clone(),
                };
            }
            let (tx, rx) = oneshot::channel();
            st.queue.push(Waiter {
                model: model.to_string(),
                skipped: 0,
                grant: tx,
            });
            rx
        };
        let mut queued = Queued {
            limiter: self.clone(),
            grant,
        };
        // Senders live in the queue until release() sends on them, so this resolves only with a
        // grant; awaiting consumes it, which disarms the guard.
        let _ = (&mut queued.grant).await;
        drop(queued);
        Permit {
            limiter: self.clone(),
        }
    }

    fn release(&self) {
        let mut st = self.lock();
        loop {
            if st.queue.is_empty() {
                st.in_flight = st.in_flight.saturating_sub(1);
                return;
            }
            let oldest_starved = st.queue[0].skipped >= MAX_SKIPS;
            let pick = match &st.last_model {
                Some(m) if !oldest_starved => {
                    st.queue.iter().position(|w| &w.model == m).unwrap_or(0)
                }
                _ => 0,
            };
            for w in &mut st.queue[..pick] {
                w.skipped += 1;
            }
            let w = st.queue.remove(pick);
            let model = w.model;
            if w.grant.send(()).is_ok() {
                st.last_model = Some(model);
                return;
            }
            // That caller gave up while queued; offer the slot to the next one.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn order_of(first: &str, queued: &[&str]) -> Vec<String> {
        let limiter = Limiter::new(1);
        let running = limiter.acquire(first).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for m in queued {
            let (l, tx, m) = (limiter.clone(), tx.clone(), m.to_string());
            tasks.push(tokio::spawn(async move {
                let p = l.acquire(&m).await;
                tx.send(m).unwrap();
                drop(p);
            }));
            // Queue in a known order: wait until this one is in the queue.
            while limiter.queued() < tasks.len() {
                tokio::task::yield_now().await;
            }
        }
        drop(running);
        for t in tasks {
            t.await.unwrap();
        }
        drop(tx);
        let mut order = Vec::new();
        while let Some(m) = rx.recv().await {
            order.push(m);
        }
        order
    }

    #[tokio::test]
    async fn the_loaded_model_goes_first() {
        let order = order_of("a", &["b", "a", "b", "a"]).await;
        assert_eq!(order, vec!["a", "a", "b", "b"]);
    }

    #[tokio::test]
    async fn no_model_starves() {
        let queued = ["b", "a", "a", "a", "a", "a", "a"];
        let order = order_of("a", &queued).await;
        let b_at = order.iter().position(|m| m == "b").unwrap();
        assert_eq!(b_at, MAX_SKIPS as usize, "{order:?}");
    }

    #[tokio::test]
    async fn a_cancelled_waiter_does_not_lose_the_slot() {
        let limiter = Limiter::new(1);
        let running = limiter.acquire("a").await;
        let l = limiter.clone();
        let gone = tokio::spawn(async move {
            let _p = l.acquire("a").await;
        });
        while limiter.queued() < 1 {
            tokio::task::yield_now().await;
        }
        gone.abort();
        let _ = gone.await;
        drop(running);
        // Both the running call and the abandoned waiter are gone: the slot is free.
        let _p = limiter.acquire("b").await;
        assert_eq!(limiter.lock().in_flight, 1);
    }

    #[tokio::test]
    async fn up_to_max_run_at_once() {
        let limiter = Limiter::new(2);
        let _a = limiter.acquire("a").await;
        let _b = limiter.acquire("b").await;
        assert_eq!(limiter.lock().in_flight, 2);
        assert_eq!(limiter.queued(), 0);
    }
}
