//! The history: [`store`] keeps every event on disk for the API, the CLI
//! and the status page; [`History`] is the short list of recent events in
//! the snapshot that the alert engine's flapping and storm counts read.

pub mod store;
pub mod timeline;

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
