//! FLEXlm's error numbers, symbolic names and the texts its tools print.
//! Both sides of the protocol use them: the daemon sends the number, minor
//! number and text in `Denied`/`ErrorReply`; the client library prints them
//! the way applications always have, e.g.
//! `Licensed number of users already reached. (-4,342)`.

/// One FLEXlm error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LmError {
    pub code: i32,
    pub name: &'static str,
    pub text: &'static str,
}

macro_rules! errors {
    ($($konst:ident = $code:literal, $text:literal;)*) => {
        $(pub const $konst: i32 = $code;)*
        /// Every error we know, by number.
        pub const TABLE: &[LmError] = &[$(LmError { code: $code, name: stringify!($konst), text: $text }),*];
    };
}

errors! {
    LM_NOCONFFILE = -1, "Cannot find license file.";
    LM_BADFILE = -2, "Invalid license file syntax.";
    LM_NOSERVER = -3, "No license server system for this feature.";
    LM_MAXUSERS = -4, "Licensed number of users already reached.";
    LM_NOFEATURE = -5, "No such feature exists.";
    LM_NOSERVICE = -6, "No TCP/IP port number in license file and FLEXnet Licensing service does not exist. (pre-v6 only)";
    LM_NOSOCKET = -7, "No socket connection to license server manager service.";
    LM_BADCODE = -8, "Invalid (inconsistent) license key or signature.";
    LM_NOTTHISHOST = -9, "Invalid host.";
    LM_LONGGONE = -10, "Feature has expired.";
    LM_BADDATE = -11, "Invalid date format in license file.";
    LM_BADCOMM = -12, "Invalid returned data from license server system.";
    LM_NO_SERVER_IN_FILE = -13, "No SERVER lines in license file.";
    LM_BADHOST = -14, "Cannot find SERVER host name in network database.";
    LM_CANTCONNECT = -15, "Cannot connect to license server system.";
    LM_CANTREAD = -16, "Cannot read data from license server system.";
    LM_CANTWRITE = -17, "Cannot write data to license server system.";
    LM_NOSERVSUPP = -18, "License server system does not support this feature.";
    LM_SELECTERR = -19, "Error in select system call.";
    LM_SERVBUSY = -20, "License server system busy (connecting).";
    LM_OLDVER = -21, "License file does not support this version.";
    LM_CHECKINBAD = -22, "Feature checkin failure detected at license server system.";
    LM_BUSYNEWSERV = -23, "License server system temporarily busy (new server connecting).";
    LM_USERSQUEUED = -24, "Users are queued for this feature.";
    LM_SERVLONGGONE = -25, "License server system does not support this version of this feature.";
    LM_TOOMANY = -26, "Request for more licenses than this feature supports.";
    LM_NOREADLIC = -30, "Cannot read license file.";
    LM_TOOEARLY = -31, "Feature start date is in the future.";
    // Texts of -32, -40, -43..-45, -51 and -65 are ours (the manuals give
    // only their meaning); see docs/compatibility.md.
    LM_NOSUCHATTR = -32, "No such attribute.";
    LM_BADHANDSHAKE = -33, "Bad encryption handshake with vendor daemon.";
    LM_CLOCKBAD = -34, "Clock difference too large between client and server.";
    LM_FEATQUEUE = -35, "In the queue for this feature.";
    LM_FEATCORRUPT = -36, "Feature database corrupted in vendor daemon.";
    LM_BADFEATPARAM = -37, "Duplicate selection mismatch for this feature.";
    LM_FEATEXCLUDE = -38, "User/host on EXCLUDE list for feature.";
    LM_FEATNOTINCLUDE = -39, "User/host not on INCLUDE list for feature.";
    LM_CANTMALLOC = -40, "Cannot allocate memory.";
    LM_NEVERCHECKOUT = -41, "Feature was never checked out.";
    LM_BADPARAM = -42, "Invalid parameter.";
    LM_NOKEYDATA = -43, "No publisher key data.";
    LM_BADKEYDATA = -44, "Invalid publisher key data.";
    LM_FUNCNOTAVAIL = -45, "Function not available in this version.";
    LM_NOFLEXLMINIT = -51, "No license job: call lc_new_job first.";
    LM_NOSERVRESP = -52, "License server system did not respond to message.";
    LM_CHECKOUTFILTERED = -53, "Checkout request rejected by vendor-defined checkout filter.";
    LM_BADFEATSET = -55, "Incorrect FEATURESET line in license file.";
    LM_SERVNOREADLIC = -61, "License server system cannot read license file.";
    LM_NOTLICADMIN = -63, "Not a license administrator.";
    LM_REMOVETOOSOON = -64, "lmremove request before the minimum lmremove interval.";
    LM_BADVENDORDATA = -65, "Invalid VENDORCODE record.";
    LM_NONETOBORROW = -67, "No licenses to borrow.";
    LM_NOBORROWSUPP = -68, "License BORROW support not enabled.";
    LM_BADPKG = -82, "Invalid PACKAGE line in license file.";
    LM_SERVOLDVER = -83, "Version of vendor daemon is too old.";
    LM_USER_BASED = -84, "Wrong number of USER or HOST entries in INCLUDE for a USER_BASED or HOST_BASED license.";
    LM_MAXLIMIT = -87, "Checkout exceeds MAX specified in options file.";
    LM_SERVER_REMOVED = -92, "Feature removed during lmreread, or wrong SERVER line hostid.";
    LM_HOSTDOWN = -96, "License server machine is down or not responding.";
    LM_VENDOR_DOWN = -97, "The desired vendor daemon is down.";
    LM_REMOVE_LINGER = -100, "Cannot remove a lingering license.";
    LM_RESVFOROTHERS = -101, "All licenses are reserved for others.";
    LM_BORROW_TOOLONG = -104, "Cannot borrow that long.";
    LM_UNBORROWED_ALREADY = -105, "Feature already returned to server.";
    LM_SERVER_MAXED_OUT = -106, "License server system out of network connections.";
    LM_NOBORROWCOMP = -107, "Cannot borrow a PACKAGE component.";
    LM_SIGN_REQ = -114, "SIGN= keyword required but missing from the license certificate.";
    LM_BORROW_EXPIRED = -118, "Borrow period has expired.";
    LM_MUST_BE_LOCAL = -119, "lmdown and lmreread must be run on license server machine.";
    LM_BORROW_DOWN = -120, "Cannot lmdown the server when licenses are borrowed.";
    LM_VD_MAX_CLIENTS_REACHED = -237, "The vendor daemon has reached its limit of client connections.";
}

/// The error with this number, if we know it.
pub fn lookup(code: i32) -> Option<&'static LmError> {
    TABLE.iter().find(|e| e.code == code)
}

/// The text FLEXlm prints for `code`, or a generic one.
pub fn text(code: i32) -> &'static str {
    lookup(code).map_or("Unknown error.", |e| e.text)
}

/// FLEXlm's short form: `text (code,minor)`.
pub fn short_form(code: i32, minor: i32) -> String {
    format!("{} ({code},{minor})", text(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_texts_and_form() {
        assert_eq!(
            short_form(LM_MAXUSERS, 342),
            "Licensed number of users already reached. (-4,342)"
        );
        assert_eq!(text(LM_NOFEATURE), "No such feature exists.");
        assert_eq!(lookup(-97).unwrap().name, "LM_VENDOR_DOWN");
        assert_eq!(text(-9999), "Unknown error.");
        let mut codes: Vec<i32> = TABLE.iter().map(|e| e.code).collect();
        codes.dedup();
        assert_eq!(codes.len(), TABLE.len(), "no number twice");
    }
}
