//! Business-hours schedules: unknown time zones (F0401), impossible dates
//! and times (F0402, also in expressions), ranges that end before they
//! start (F0403), and ranges, days and dates that contradict each other
//! (F0404).
//!
//! Each rule is first checked on its own ([`values`]). Only the parts that
//! pass go on to the overlap checks ([`overlap`]), so one mistake gives one
//! report.

mod expressions;
mod overlap;
mod values;
mod zone;

use overlap::{Exception, Holiday, Rules, WeeklyRange};

use crate::diag::{Diagnostic, FileId};
use crate::project::Project;
use crate::syntax::ast::{Decl, Hours, HoursRule};

/// Adds this module's problems to `diagnostics`.
pub fn check(project: &Project, diagnostics: &mut Vec<Diagnostic>) {
    for file in &project.files {
        for decl in &file.ast.decls {
            if let Decl::Hours(hours) = decl {
                check_hours(file.id, hours, diagnostics);
            }
        }
        expressions::check_file(file.id, &file.ast, diagnostics);
    }
}

fn check_hours(file: FileId, hours: &Hours, diagnostics: &mut Vec<Diagnostic>) {
    zone::check(file, &hours.zone, diagnostics);
    let mut rules = Rules::default();
    for rule in &hours.rules {
        match rule {
            HoursRule::Weekly { days, ranges, .. } => {
                let masks = overlap::unique_days(file, days, diagnostics);
                for range in ranges {
                    if !values::check_range(file, range, diagnostics) {
                        continue;
                    }
                    for (days, &mask) in days.iter().zip(&masks) {
                        rules.weekly.push(WeeklyRange { days, mask, range });
                    }
                }
            }
            HoursRule::Holiday { dates, .. } => {
                for item in dates {
                    if let Some((first, last)) = values::check_date_item(file, item, diagnostics) {
                        rules.holidays.push(Holiday { first, last, item });
                    }
                }
            }
            HoursRule::Exception { date, ranges, .. } => {
                let valid_date = values::check_date(file, date, diagnostics);
                let ranges = ranges
                    .iter()
                    .filter(|range| values::check_range(file, range, diagnostics))
                    .collect();
                if let Some(valid_date) = valid_date {
                    rules.exceptions.push(Exception {
                        date: valid_date,
                        lit: date,
                        ranges,
                    });
                }
            }
        }
    }
    overlap::check(file, &rules, diagnostics);
}

#[cfg(test)]
mod tests;
