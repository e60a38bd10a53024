//! Why a checkout was refused, and the FLEXlm numbers that go on the wire.

use wire::lmerr;

/// A refused checkout. Refusals are data, not errors: each maps to one
/// FLEXlm error number, minor number and text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Denial {
    /// The daemon serves no line of this feature.
    NoFeature,
    /// The feature's lines were refused at start-up (signature).
    BadCode,
    /// The request itself makes no sense (count 0, unreadable version).
    BadParam,
    /// Only node-locked pools for other hosts.
    NotThisHost,
    /// Every line of the feature has expired.
    Expired,
    /// The usable lines start in the future.
    TooEarly,
    /// No pool reaches the requested version.
    VersionTooHigh,
    /// More licenses than a pool could ever give at once.
    TooMany,
    /// Every seat is taken.
    MaxUsers,
    /// The options file EXCLUDEs this client.
    Excluded,
    /// The options file has an INCLUDE list without this client.
    NotIncluded,
    /// The options file's MAX for this client is reached.
    OverMax,
    /// Free seats are RESERVEd for others.
    ReservedForOthers,
    /// Every seat is taken and others are already waiting for one.
    UsersQueued,
    /// A USER_BASED/HOST_BASED line whose INCLUDE list names more users
    /// (hosts) than it allows.
    UserBased,
    /// A borrow of a line without BORROW.
    NoBorrowSupport,
    /// A borrow that would leave fewer than BORROW_LOWWATER seats.
    NoneToBorrow,
    /// A borrow longer than BORROW= or MAX_BORROW_HOURS allows.
    BorrowTooLong,
    /// A borrow of a SUITE component.
    BorrowComponent,
}

impl Denial {
    /// FLEXlm's error number for this denial.
    pub fn code(self) -> i32 {
        match self {
            Denial::NoFeature => lmerr::LM_NOFEATURE,
            Denial::BadCode => lmerr::LM_BADCODE,
            Denial::BadParam => lmerr::LM_BADPARAM,
            Denial::NotThisHost => lmerr::LM_NOTTHISHOST,
            Denial::Expired => lmerr::LM_LONGGONE,
            Denial::TooEarly => lmerr::LM_TOOEARLY,
            Denial::VersionTooHigh => lmerr::LM_SERVLONGGONE,
            Denial::TooMany => lmerr::LM_TOOMANY,
            Denial::MaxUsers => lmerr::LM_MAXUSERS,
            Denial::Excluded => lmerr::LM_FEATEXCLUDE,
            Denial::NotIncluded => lmerr::LM_FEATNOTINCLUDE,
            Denial::OverMax => lmerr::LM_MAXLIMIT,
            Denial::ReservedForOthers => lmerr::LM_RESVFOROTHERS,
            Denial::UsersQueued => lmerr::LM_USERSQUEUED,
            Denial::UserBased => lmerr::LM_USER_BASED,
            Denial::NoBorrowSupport => lmerr::LM_NOBORROWSUPP,
            Denial::NoneToBorrow => lmerr::LM_NONETOBORROW,
            Denial::BorrowTooLong => lmerr::LM_BORROW_TOOLONG,
            Denial::BorrowComponent => lmerr::LM_NOBORROWCOMP,
        }
    }

    /// FLEXlm's minor numbers where real logs show them; 0 elsewhere.
    pub fn minor(self) -> i32 {
        match self {
            Denial::MaxUsers => 342,
            Denial::NoFeature => 346,
            Denial::UsersQueued => 332,
            Denial::VersionTooHigh => 334,
            _ => 0,
        }
    }

    /// The text FLEXlm gives with that number.
    pub fn text(self) -> &'static str {
        lmerr::text(self.code())
    }

    /// When several pools refuse for different reasons, the client hears
    /// about the pool that came closest to granting.
    pub(crate) fn closeness(self) -> u8 {
        match self {
            Denial::NoFeature | Denial::BadCode | Denial::BadParam => 0,
            Denial::NotThisHost => 1,
            Denial::Expired => 2,
            Denial::TooEarly => 3,
            Denial::VersionTooHigh => 4,
            Denial::TooMany => 5,
            Denial::Excluded | Denial::NotIncluded | Denial::UserBased => 1,
            Denial::NoBorrowSupport | Denial::BorrowComponent => 1,
            Denial::BorrowTooLong | Denial::NoneToBorrow => 6,
            Denial::MaxUsers => 6,
            Denial::OverMax | Denial::ReservedForOthers | Denial::UsersQueued => 7,
        }
    }

    /// Logged as UNSUPPORTED rather than DENIED.
    pub fn is_unsupported(self) -> bool {
        self == Denial::NoFeature
    }
}

/// The detail of a -9 refusal: the hostids the feature's lines are
/// locked to, the ones the client reported, and how to see a machine's.
/// FLEXlm's bare `Invalid host.` sends administrators looking in the
/// wrong place.
pub fn hostid_detail(locked_to: &[String], client_host: &str, client_ids: &[String]) -> String {
    let expected = if locked_to.is_empty() {
        "another host".to_string()
    } else {
        locked_to
            .iter()
            .map(|ids| format!("HOSTID=\"{ids}\""))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let actual = if client_ids.is_empty() {
        "reports no hostid".to_string()
    } else {
        format!("has \"{}\"", client_ids.join(" "))
    };
    format!(
        "the license is locked to {expected}; the client machine {client_host} {actual} \
         (run `lmutil lmhostid` there to see its hostids)"
    )
}

/// The detail of a -10 refusal: when the feature's last line expired.
pub fn expired_detail(feature: &str, expiry: &grammar::Expiry) -> String {
    format!("\"{feature}\" expired on {expiry}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_name_what_did_not_fit() {
        assert_eq!(
            hostid_detail(
                &["17007ea8".into(), "0800200005ac 0800200005ad".into()],
                "ws1",
                &["0a0b0c0d0e0f".into(), "INTERNET=10.0.0.5".into()]
            ),
            "the license is locked to HOSTID=\"17007ea8\" or HOSTID=\"0800200005ac 0800200005ad\"; \
             the client machine ws1 has \"0a0b0c0d0e0f INTERNET=10.0.0.5\" \
             (run `lmutil lmhostid` there to see its hostids)"
        );
        assert!(hostid_detail(&[], "ws1", &[]).contains("ws1 reports no hostid"));
        let d = grammar::Date::new(2024, 3, 1).unwrap();
        assert_eq!(
            expired_detail("f1", &grammar::Expiry::On(d)),
            "\"f1\" expired on 1-mar-2024"
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(
            (Denial::MaxUsers.code(), Denial::MaxUsers.minor()),
            (-4, 342)
        );
        assert_eq!(
            (Denial::NoFeature.code(), Denial::NoFeature.minor()),
            (-5, 346)
        );
        assert_eq!(
            (
                Denial::VersionTooHigh.code(),
                Denial::VersionTooHigh.minor()
            ),
            (-25, 334)
        );
        assert_eq!(Denial::Expired.code(), -10);
        assert_eq!(Denial::TooEarly.code(), -31);
        assert_eq!(Denial::TooMany.code(), -26);
        assert_eq!(
            Denial::MaxUsers.text(),
            "Licensed number of users already reached."
        );
    }
}
