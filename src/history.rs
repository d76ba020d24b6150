//! Recent events (transitions and disconnects), newest first, bounded by
//! `[states] history_size`: the memory behind `/api/v1/history` and the
//! alert engine's flapping and storm counts.

use crate::state::{Change, Event};
use std::collections::VecDeque;
use std::sync::Arc;

/// The bounded list of recent events.
#[derive(Debug)]
pub struct History {
    recent: VecDeque<Event>,
    size: usize,
}

impl History {
    /// Keeps the last `size` events from now on (a reload).
    pub fn set_size(&mut self, size: usize) {
        self.size = size.max(1);
        self.recent.truncate(self.size);
    }

    /// Keeps the last `size` events (at least one).
    pub fn new(size: usize) -> History {
        History {
            recent: VecDeque::new(),
            size: size.max(1),
        }
    }

    /// Records the events of one step; the new list when it changed.
    pub fn record(&mut self, changes: &[Change]) -> Option<Arc<Vec<Event>>> {
        let mut any = false;
        for c in changes {
            if let Change::Event(e) = c {
                self.recent.push_front(e.clone());
                any = true;
            }
        }
        if !any {
            return None;
        }
        self.recent.truncate(self.size);
        Some(Arc::new(self.recent.iter().cloned().collect()))
    }
}
