//! What one connection may cost the caller, whatever the server does: a byte budget for what
//! the server sends, raised step by step as the conversation earns it (the handshake and ref
//! listing get [`super::Options::max_listing_bytes`]; a pack gets
//! [`super::Options::max_pack_bytes`] more), and a deadline for the whole conversation
//! ([`super::Options::deadline`]), which a server sending a byte now and then cannot stretch.
//!
//! Every byte from the server passes through a [`Guarded`] reader: the socket of a `git://`
//! connection, the standard output of `ssh`, the body of each HTTP response. When a limit is
//! passed, the read fails and the guard remembers which limit it was, so that the error the
//! caller sees names it (whatever gix made of the failed read).

use std::io::{BufRead, Read};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which limit a connection passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tripped {
    /// The byte budget of a stage.
    Bytes(Stage),
    /// The deadline.
    Deadline,
    /// A read that waited longer than the time-out (seen by a watchdog, for readers that have
    /// no time-out of their own: a pipe from ssh).
    Silence,
}

/// A stage of the conversation, with its own byte budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// The handshake and a ref listing.
    Listing,
    /// Receiving a pack.
    Pack,
}

/// The shared state of one connection's limits (cheap to clone: every reader of the connection
/// holds one).
#[derive(Debug, Clone)]
pub(super) struct Guard(Arc<State>);

#[derive(Debug)]
struct State {
    start: Instant,
    deadline: Duration,
    received: AtomicU64,
    budget: AtomicU64,
    stage: AtomicU8,
    tripped: AtomicU8,
    /// When the read in progress started, in milliseconds since `start`; `u64::MAX`: none.
    reading_since: AtomicU64,
}

impl Guard {
    /// A guard allowing `budget` bytes until `deadline` from now.
    pub(super) fn new(budget: u64, deadline: Duration) -> Guard {
        Guard(Arc::new(State {
            start: Instant::now(),
            deadline,
            received: AtomicU64::new(0),
            budget: AtomicU64::new(budget),
            stage: AtomicU8::new(0),
            tripped: AtomicU8::new(0),
            reading_since: AtomicU64::new(u64::MAX),
        }))
    }

    /// What is left of the deadline.
    pub(super) fn remaining(&self) -> Duration {
        self.0.deadline.saturating_sub(self.0.start.elapsed())
    }

    /// Starts `stage`, allowing `bytes` more than have been received so far (each stage of the
    /// conversation gets its own budget, whatever the earlier stages used).
    pub(super) fn allow(&self, stage: Stage, bytes: u64) {
        self.0.stage.store(stage as u8, Ordering::Relaxed);
        let received = self.0.received.load(Ordering::Relaxed);
        self.0
            .budget
            .store(received.saturating_add(bytes), Ordering::Relaxed);
    }

    /// The limit passed, if one was.
    pub(super) fn tripped(&self) -> Option<Tripped> {
        match self.0.tripped.load(Ordering::Relaxed) {
            1 => Some(Tripped::Bytes(self.stage())),
            2 => Some(Tripped::Deadline),
            3 => Some(Tripped::Silence),
            _ => None,
        }
    }

    fn stage(&self) -> Stage {
        match self.0.stage.load(Ordering::Relaxed) {
            0 => Stage::Listing,
            _ => Stage::Pack,
        }
    }

    /// Records that the current stage's budget was passed (by a count kept elsewhere, such as
    /// the pack data's own), and returns the error for the read that passed it.
    pub(super) fn exceeded(&self) -> std::io::Error {
        self.trip(Tripped::Bytes(self.stage()))
    }

    fn trip(&self, which: Tripped) -> std::io::Error {
        let code = match which {
            Tripped::Bytes(_) => 1,
            Tripped::Deadline => 2,
            Tripped::Silence => 3,
        };
        let _ = self
            .0
            .tripped
            .compare_exchange(0, code, Ordering::Relaxed, Ordering::Relaxed);
        std::io::Error::other(match which {
            Tripped::Bytes(_) => "the server sent more than this stage of the conversation allows",
            Tripped::Deadline => "the conversation with the server passed its deadline",
            Tripped::Silence => "the server said nothing for longer than the time-out",
        })
    }

    /// Fails once a limit is passed, before and after each read.
    fn check(&self) -> std::io::Result<()> {
        if let Some(which) = self.tripped() {
            return Err(self.trip(which));
        }
        if self.0.start.elapsed() > self.0.deadline {
            return Err(self.trip(Tripped::Deadline));
        }
        if self.0.received.load(Ordering::Relaxed) > self.0.budget.load(Ordering::Relaxed) {
            return Err(self.exceeded());
        }
        Ok(())
    }

    /// For a watchdog: whether the read in progress has waited longer than `timeout`, or the
    /// deadline has passed while it waits; the limit is then recorded as passed (the caller ends
    /// the read, e.g. by killing the process it reads from).
    pub(super) fn stalled(&self, timeout: Duration) -> Option<Tripped> {
        let since = self.0.reading_since.load(Ordering::Relaxed);
        if since == u64::MAX {
            return None;
        }
        let now = self.0.start.elapsed();
        let which = if now > self.0.deadline {
            Tripped::Deadline
        } else if now.saturating_sub(Duration::from_millis(since)) > timeout {
            Tripped::Silence
        } else {
            return None;
        };
        let _ = self.trip(which);
        self.tripped()
    }

    fn reading(&self, now: bool) {
        let value = match now {
            true => self.0.start.elapsed().as_millis() as u64,
            false => u64::MAX,
        };
        self.0.reading_since.store(value, Ordering::Relaxed);
    }

    fn count(&self, bytes: usize) {
        self.0.received.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// A reader of what the server sends, failing once its connection's [`Guard`] says so.
pub(super) struct Guarded<R> {
    inner: R,
    guard: Guard,
}

impl<R> Guarded<R> {
    pub(super) fn new(inner: R, guard: Guard) -> Self {
        Guarded { inner, guard }
    }
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.guard.check()?;
        self.guard.reading(true);
        let read = self.inner.read(buf);
        self.guard.reading(false);
        let n = read?;
        self.guard.count(n);
        self.guard.check()?;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Guarded<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.guard.check()?;
        self.guard.reading(true);
        let filled = self.inner.fill_buf();
        self.guard.reading(false);
        filled
    }

    fn consume(&mut self, amount: usize) {
        self.guard.count(amount);
        self.inner.consume(amount);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_and_the_deadline_stop_reading() {
        let guard = Guard::new(12, Duration::from_secs(60));
        let mut reader = Guarded::new(std::io::repeat(b'x'), guard.clone());
        let mut buf = [0u8; 4];
        for _ in 0..3 {
            reader.read_exact(&mut buf).unwrap();
        }
        assert!(reader.read(&mut buf).is_err());
        assert_eq!(guard.tripped(), Some(Tripped::Bytes(Stage::Listing)));
        // The next stage gets its own budget, but a tripped guard stays tripped.
        guard.allow(Stage::Pack, 100);
        assert!(reader.read(&mut buf).is_err());

        let guard = Guard::new(u64::MAX, Duration::ZERO);
        let mut reader = Guarded::new(std::io::repeat(b'x'), guard.clone());
        std::thread::sleep(Duration::from_millis(2));
        assert!(reader.read(&mut buf).is_err());
        assert_eq!(guard.tripped(), Some(Tripped::Deadline));
    }
}
