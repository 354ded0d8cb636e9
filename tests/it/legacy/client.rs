//! Our `mr` client on the course's coordinator.
