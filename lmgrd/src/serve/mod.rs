//! Serving: lmgrd as a daemon.

pub mod answer;
pub mod children;
pub mod config;
pub mod console;
pub mod daemon;
pub mod peer_links;
pub mod reread;
pub mod server_line;
pub mod start;
pub mod supervisor;
pub mod triad;
pub mod triad_auth;
pub mod triad_node;
