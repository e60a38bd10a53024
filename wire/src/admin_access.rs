//! Admin requests a daemon can tie to a verified requester (see
//! `accounting::admin::Requester` and `docs/protocol.md`):
//!
//! - `AdminAccessQuery` → `AdminAccess` (in [`crate::message`]): over TCP, the daemon tells
//!   where its local admin socket is, the TCP port it serves, and a fresh
//!   nonce for this connection (single use).
//! - `AdminFor`: an admin request naming the TCP port it is meant for.
//!   Over the Unix-domain admin socket the kernel tells the daemon who
//!   sent it (`token` and `mac` empty); over TCP it carries a named admin
//!   token's proof: HMAC-SHA256, keyed with the token's key, over
//!   [`mac_input`] (the nonce, the port and the request). The token itself
//!   never crosses the wire.
//!
//! A daemon refuses an `AdminFor` whose port is not its own: a server
//! that is not the one the administrator meant cannot pass its request on.

use crate::codec::{Blob, Wire, Writer};
use crate::message::AdminRequest;
pub use crate::message::{AdminAccess, AdminAccessQuery, AdminFor};

/// Length of the nonce a daemon hands out.
pub const NONCE_LEN: usize = 32;

/// What a token's MAC covers: a domain label, the nonce, the port and the
/// request as encoded on the wire.
pub fn mac_input(nonce: &[u8], port: u16, request: &AdminRequest) -> Vec<u8> {
    let mut w = Writer::default();
    w.buf.extend_from_slice(b"lm-admin-for-v1\0");
    Blob(nonce.to_vec()).put(&mut w);
    port.put(&mut w);
    request.put(&mut w);
    w.buf
}
