//! `lmreport -f <report log> [-feature F] [-from dd-mon-yyyy] [-to dd-mon-yyyy] [-json] [-csv]`:
//! what a vendor daemon's report log (`REPORTLOG` in the options file)
//! says about demand: per feature and day, checkouts, users, seat-hours,
//! peak and denials, and the peak concurrent use of each feature.
//!
//! This is a thin shell: the summary and its formats live in the
//! `reportlog` crate (`reportlog::summary`, `reportlog::render`), where
//! they are tested; here are the arguments, the local time zone and the
//! file.

use crate::common;
use grammar::Date;
use hostenv::local_calendar::LocalCalendar as Local;
use reportlog::{render, Calendar, Filter, Reader, Summarizer};

const USAGE: &str = "\
usage: lmreport -f report_log [-feature name] [-from dd-mon-yyyy] [-to dd-mon-yyyy] [-json | -csv]
  -f file        the report log (REPORTLOG in the vendor's options file); a log
                 a running vendor daemon writes cannot be read: rotate it first
                 with lmnewlog, and report on the renamed file
  -feature name  only this feature
  -from date     only from this day (inclusive), e.g. 1-jan-2026
  -to date       only up to this day (inclusive)
  -json          the summary as JSON
  -csv           the records themselves, one per line
Days and times are in this machine's time zone.
";

/// What to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// The parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub file: String,
    pub filter: Filter,
    pub format: Format,
}

pub type Parsed = common::Parsed<Args>;

/// Reads the arguments. Options are FLEXlm's single-dash words; the
/// double-dash spelling (`--json`) is accepted too.
pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut file = None;
    let mut filter = Filter::default();
    let mut format = Format::Table;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let opt = match arg.strip_prefix("--") {
            Some(rest) if !rest.is_empty() => format!("-{rest}"),
            _ => arg.clone(),
        };
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match opt.as_str() {
            "-f" => file = Some(value("-f")?),
            "-feature" => filter.feature = Some(value("-feature")?),
            "-from" => filter.from = Some(date(&value("-from")?, "-from")?),
            "-to" => filter.to = Some(date(&value("-to")?, "-to")?),
            "-json" => format = one_format(format, Format::Json)?,
            "-csv" => format = one_format(format, Format::Csv)?,
            "-help" | "-h" => return Ok(Parsed::Help),
            "-v" | "-version" => return Ok(Parsed::Version),
            other if other.starts_with('-') => return Err(format!("unknown option `{arg}`")),
            _ => return Err(format!("unexpected argument `{arg}`")),
        }
    }
    let file = file.ok_or("give the report log with -f")?;
    if let (Some(from), Some(to)) = (filter.from, filter.to) {
        if from > to {
            return Err(format!("-from {from} is after -to {to}"));
        }
    }
    Ok(Parsed::Run(Args {
        file,
        filter,
        format,
    }))
}

fn date(s: &str, flag: &str) -> Result<Date, String> {
    Date::parse_day(s).ok_or_else(|| format!("{flag}: `{s}` is not a date (dd-mon-yyyy)"))
}

fn one_format(current: Format, new: Format) -> Result<Format, String> {
    if current != Format::Table && current != new {
        return Err("give -json or -csv, not both".to_string());
    }
    Ok(new)
}

pub fn run(inv: &crate::Invocation) -> i32 {
    let tool = "lmreport";
    let args = match common::begin(inv, tool, USAGE, parse(&inv.args)) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let reader = match Reader::open(&args.file) {
        Ok(r) => r,
        Err(e) => {
            common::write_err(&format!("{tool}: {e}\n"));
            return 1;
        }
    };
    let records = match reader.records() {
        Ok(r) => r,
        Err(e) => {
            common::write_err(&format!("{tool}: {e}\n"));
            return 1;
        }
    };
    let cal = Local;
    let mut summary = Summarizer::new(&cal, &args.filter);
    let mut csv = String::new();
    if args.format == Format::Csv {
        csv.push_str(render::CSV_HEADER);
        csv.push('\n');
    }
    for item in records {
        let (seq, record) = match item {
            Ok(x) => x,
            // One damaged record does not hide the rest of the log.
            Err(e @ reportlog::Error::Damaged { .. }) => {
                common::write_err(&format!("{tool}: {e}; skipped\n"));
                continue;
            }
            Err(e) => {
                common::write_err(&format!("{tool}: {e}\n"));
                return 1;
            }
        };
        if args.format != Format::Csv {
            summary.push(&record);
            continue;
        }
        let feature_ok = record.kind.is_marker() || args.filter.keeps_feature(&record.feature);
        if feature_ok && args.filter.keeps_day(cal.civil(record.time).date) {
            csv.push_str(&render::csv_row(seq, &record, &cal));
            csv.push('\n');
            // Written as it goes: a report log can be large.
            if csv.len() > 1 << 16 {
                common::write_out(&std::mem::take(&mut csv));
            }
        }
    }
    let out = match args.format {
        Format::Csv => csv,
        Format::Table => render::text(&summary.finish(), &cal, &args.file),
        Format::Json => match render::json(&summary.finish(), &args.file) {
            Ok(mut j) => {
                j.push('\n');
                j
            }
            Err(e) => {
                common::write_err(&format!("{tool}: cannot write JSON: {e}\n"));
                return 1;
            }
        },
    };
    common::write_out(&out);
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_in_both_spellings() {
        let want = Args {
            file: "demo.rl".into(),
            filter: Filter {
                feature: Some("f1".into()),
                from: Date::new(2026, 1, 5),
                to: Date::new(2026, 2, 1),
            },
            format: Format::Json,
        };
        let single = args(&[
            "-f",
            "demo.rl",
            "-feature",
            "f1",
            "-from",
            "5-jan-2026",
            "-to",
            "1-feb-2026",
            "-json",
        ]);
        assert_eq!(parse(&single), Ok(Parsed::Run(want.clone())));
        let double = args(&[
            "--json",
            "--feature",
            "f1",
            "--from",
            "5-Jan-2026",
            "--to",
            "2026-02-01",
            "--f",
            "demo.rl",
        ]);
        assert_eq!(parse(&double), Ok(Parsed::Run(want)));
        assert_eq!(parse(&args(&["--help"])), Ok(Parsed::Help));
        assert_eq!(parse(&args(&["-v"])), Ok(Parsed::Version));
    }

    #[test]
    fn mistakes_are_named() {
        let err = |v: &[&str]| parse(&args(v)).unwrap_err();
        assert_eq!(err(&[]), "give the report log with -f");
        assert_eq!(err(&["-f"]), "-f needs a value");
        assert_eq!(err(&["-f", "x", "-bogus"]), "unknown option `-bogus`");
        assert_eq!(err(&["-f", "x", "extra"]), "unexpected argument `extra`");
        assert_eq!(
            err(&["-f", "x", "-from", "32-jan-2026"]),
            "-from: `32-jan-2026` is not a date (dd-mon-yyyy)"
        );
        assert_eq!(
            err(&["-f", "x", "-from", "2-jan-2026", "-to", "1-jan-2026"]),
            "-from 2-jan-2026 is after -to 1-jan-2026"
        );
        assert_eq!(
            err(&["-f", "x", "-json", "-csv"]),
            "give -json or -csv, not both"
        );
    }

    #[test]
    fn local_time_agrees_with_the_tools_stamps() {
        let c = Local.civil(1_767_606_300);
        let s = crate::common::Stamp::local(1_767_606_300);
        assert_eq!(
            (c.date.year, c.date.month, c.date.day, c.hour, c.minute),
            (s.year, s.month, s.day, s.hour, s.minute)
        );
        // Far-future times from a damaged log do not panic.
        let _ = Local.civil(u64::MAX);
    }
}
