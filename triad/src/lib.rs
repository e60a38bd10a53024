//! Three-server redundancy (work in progress).
