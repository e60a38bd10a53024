//! The report log (work in progress).
