//! What the switch reports about its members: one event per join, departure and refusal, which
//! `berth switch` prints as one line each.

use std::fmt;

/// A member joined, left, or was refused at the greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwitchEvent {
    Joined {
        port: u64,
        /// Length of the virtio-net header on its frames (0: plain frames).
        vnet_hdr: usize,
        members: usize,
    },
    Left {
        port: u64,
        members: usize,
    },
    Refused {
        why: &'static str,
    },
}

impl fmt::Display for SwitchEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SwitchEvent::Joined {
                port,
                vnet_hdr,
                members,
            } => write!(
                f,
                "switch: member {port} joined (virtio-net header {vnet_hdr} bytes); {members} attached"
            ),
            SwitchEvent::Left { port, members } => {
                write!(f, "switch: member {port} left; {members} attached")
            }
            SwitchEvent::Refused { why } => write!(f, "switch: member refused: {why}"),
        }
    }
}

/// Where a running switch sends its events.
pub type EventSink = Box<dyn FnMut(&SwitchEvent) + Send>;
