//! Report-log records.

use super::*;

#[test]
fn report_records_describe_each_event_when_a_report_log_is_kept() {
    use reportlog::Kind;
    let mut core = core_for("FEATURE q demo 1.0 permanent 1\n");
    assert!(core
        .checkout(0, ConnId(1), &co("q", "1.0", 1))
        .report
        .is_empty());
    hello(&mut core, 1, "a", "h");
    assert!(
        core.checkout(0, ConnId(1), &co("q", "1.0", 1))
            .report
            .is_empty(),
        "nothing without a report log"
    );
    core.set_report(true);
    hello(&mut core, 2, "b", "h");
    let fx = core.checkout(0, ConnId(2), &co("q", "1.0", 1));
    let r = &fx.report[0];
    assert_eq!(
        (r.kind, r.user.as_str(), r.error, r.issued),
        (Kind::Denied, "b", -4, 1)
    );
    let fx = core.checkout(
        0,
        ConnId(2),
        &Checkout {
            queue: true,
            ..co("q", "1.0", 1)
        },
    );
    assert_eq!(fx.report[0].kind, Kind::Queued);
    let fx = core.disconnect(5, ConnId(1));
    let kinds: Vec<(Kind, &str, u32)> = fx
        .report
        .iter()
        .map(|r| (r.kind, r.user.as_str(), r.count))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (Kind::Checkin, "a", 1),
            (Kind::Dequeued, "b", 1),
            (Kind::Checkout, "b", 1)
        ]
    );
    assert_eq!(core.held_records().len(), 1);
    assert_eq!(core.held_records()[0].kind, Kind::Held);
}
