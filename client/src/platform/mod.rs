//! What the client library asks of the operating system, in one place:
//! the 32-bit host id, the user's name from the password database, the
//! machine's IPv4 addresses, the local calendar, and a file only its
//! owner may read (the borrow store, which holds return secrets). The library is built
//! and tested on Linux; other Unix systems use the same module. A port to
//! Windows or macOS-specific calls fills in a sibling of `unix.rs` with
//! these six functions (everything else is portable Rust on `std::net`
//! and threads). Files read under `/proc` and `/sys` by `identity` fall
//! back to portable defaults where they do not exist.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::{
    create_private_file, host_id32, ipv4_addresses, local_calendar, local_to_unix,
    password_entry_name,
};

#[cfg(not(unix))]
compile_error!(
    "the client library supports Unix (tested on Linux); a port fills in \
     client/src/platform/ for this system (see its module docs)"
);
