//! Schedules and queues: declarations turned into data tables.

use super::stmt::Code;
use super::{Compiled, Generator, Work};
use crate::bytecode::{
    AnnounceKind, Announcement, BlockId, BlockKind, CallbackOffer, Date, DateRange, Instr, Key,
    MinuteRange, Queue, QueueId, QueueNeed, RelaxStep, Schedule, ScheduleException, ScheduleId,
    ServiceTarget, Type,
};
use crate::syntax::ast::{self, DayRange, HoursRule, Ident, QueueOption, Strategy, TimeRange};
use std::collections::BTreeMap;

/// Minutes in a day.
const DAY: u16 = 24 * 60;

/// Returns the weekday indices of a day range, Monday = 0, wrapping over
/// the weekend (`fri..mon`).
fn days(range: &DayRange) -> Vec<usize> {
    let first = usize::from(range.first.index());
    let last = usize::from(range.last.index());
    let count = (last + 7 - first) % 7 + 1;
    (0..count).map(|i| (first + i) % 7).collect()
}

impl<'p> Generator<'p> {
    /// Returns the id of a schedule, adding its data on first use.
    pub(super) fn schedule_id(&mut self, name: &Ident) -> Compiled<ScheduleId> {
        if let Some(id) = self.schedule_ids.get(name.name.as_str()) {
            return Ok(*id);
        }
        let Some(&(file, decl)) = self.index.schedules.get(name.name.as_str()) else {
            let message = format!("no schedule is named `{}`", name.name);
            return Err(self.fail(name.span, message, "unknown schedule"));
        };
        let saved = std::mem::replace(&mut self.file, file);
        let data = self.schedule_data(decl);
        self.file = saved;
        let id = ScheduleId(self.schedules.len() as u32);
        self.schedule_ids.insert(&decl.name.name, id);
        self.used_files.insert(file);
        // A failed schedule keeps its place so later references do not
        // report it again; the module is not produced anyway.
        self.schedules.push(data.unwrap_or_else(|_| Schedule {
            name: decl.name.name.clone(),
            zone: decl.zone.value.clone(),
            weekly: Default::default(),
            holidays: Vec::new(),
            exceptions: Vec::new(),
        }));
        Ok(id)
    }

    fn schedule_data(&mut self, hours: &ast::Hours) -> Compiled<Schedule> {
        let mut weekly: [Vec<MinuteRange>; 7] = Default::default();
        let mut holidays = Vec::new();
        let mut exceptions: BTreeMap<Date, Vec<MinuteRange>> = BTreeMap::new();
        let mut result = Ok(());
        for rule in &hours.rules {
            let added = match rule {
                HoursRule::Weekly {
                    days: list, ranges, ..
                } => self.weekly_rule(&mut weekly, list, ranges),
                HoursRule::Holiday { dates, .. } => self.holiday_rule(&mut holidays, dates),
                HoursRule::Exception { date, ranges, .. } => {
                    self.exception_rule(&mut exceptions, *date, ranges)
                }
            };
            result = result.and(added);
        }
        result?;
        for day in &mut weekly {
            day.sort();
        }
        holidays.sort_by_key(|h: &DateRange| (h.first, h.last));
        let exceptions = exceptions
            .into_iter()
            .map(|(date, mut ranges)| {
                ranges.sort();
                ScheduleException { date, ranges }
            })
            .collect();
        Ok(Schedule {
            name: hours.name.name.clone(),
            zone: hours.zone.value.clone(),
            weekly,
            holidays,
            exceptions,
        })
    }

    /// Returns a range as stored: minutes from the start of the date it
    /// belongs to, so the end of an overnight range is past 1440.
    fn minute_range(&mut self, range: &TimeRange) -> Compiled<MinuteRange> {
        let start = self.time(range.start, range.start.span)?;
        let end = self.time(range.end, range.end.span)?;
        if start >= DAY {
            return Err(self.fail(
                range.start.span,
                "a range cannot start at 24:00",
                "starts at midnight's end",
            ));
        }
        if !range.overnight && end <= start {
            let message = "the range ends before it starts and is not marked `overnight`";
            return Err(self.fail(range.span, message, "ends before it starts"));
        }
        if range.overnight && end > start {
            let message = "the range is marked `overnight` but ends after it starts";
            return Err(self.fail(range.span, message, "does not run past midnight"));
        }
        let end = if range.overnight { end + DAY } else { end };
        Ok(MinuteRange { start, end })
    }

    /// Adds each range to every weekday it starts on, unsplit: an overnight
    /// range belongs to its first day and its end is past 1440.
    fn weekly_rule(
        &mut self,
        weekly: &mut [Vec<MinuteRange>; 7],
        list: &[DayRange],
        ranges: &[TimeRange],
    ) -> Compiled<()> {
        for range in ranges {
            let stored = self.minute_range(range)?;
            for day in list.iter().flat_map(days) {
                if let Some(ranges) = weekly.get_mut(day) {
                    ranges.push(stored);
                }
            }
        }
        Ok(())
    }

    fn holiday_rule(
        &mut self,
        holidays: &mut Vec<DateRange>,
        dates: &[ast::DateItem],
    ) -> Compiled<()> {
        for item in dates {
            let first = self.date(item.first)?;
            let last = match item.last {
                Some(last) => self.date(last)?,
                None => first,
            };
            if last < first {
                let message = format!("holiday {first}..{last} ends before it starts");
                return Err(self.fail(item.span, message, "ends before it starts"));
            }
            holidays.push(DateRange { first, last });
        }
        Ok(())
    }

    fn exception_rule(
        &mut self,
        exceptions: &mut BTreeMap<Date, Vec<MinuteRange>>,
        date: ast::DateLit,
        ranges: &[TimeRange],
    ) -> Compiled<()> {
        let date = self.date(date)?;
        let mut converted = Vec::new();
        for range in ranges {
            converted.push(self.minute_range(range)?);
        }
        exceptions.entry(date).or_default().extend(converted);
        Ok(())
    }

    /// Returns the id of a queue and its overflow block, queueing the
    /// queue's compilation on first use.
    pub(super) fn queue_id(
        &mut self,
        name: &Ident,
        scope: usize,
    ) -> Compiled<(QueueId, Option<BlockId>)> {
        if let Some(found) = self.queue_ids.get(&(name.name.as_str(), scope)) {
            return Ok(*found);
        }
        let Some(&(file, decl)) = self.index.queues.get(name.name.as_str()) else {
            let message = format!("no queue is named `{}`", name.name);
            return Err(self.fail(name.span, message, "unknown queue"));
        };
        let id = QueueId(self.queues.len() as u32);
        self.queues.push(None);
        let has_overflow = decl
            .options
            .iter()
            .any(|o| matches!(o, QueueOption::Overflow(..)));
        let overflow = has_overflow.then(|| self.add_block(BlockKind::Overflow(id)));
        self.queue_ids
            .insert((&decl.name.name, scope), (id, overflow));
        self.used_files.insert(file);
        self.work.push(Work::Queue {
            id,
            file,
            decl,
            scope,
            overflow,
        });
        Ok((id, overflow))
    }

    /// Builds a queue's data from its options, in source order; a later
    /// option of the same kind replaces an earlier one.
    pub(super) fn compile_queue(
        &mut self,
        id: QueueId,
        decl: &'p ast::Queue,
        scope: usize,
        overflow: Option<BlockId>,
    ) {
        let mut queue = Queue {
            name: decl.name.name.clone(),
            strategy: Strategy::LongestIdle,
            needs: Vec::new(),
            relax: Vec::new(),
            sticky_ms: None,
            priority: None,
            target: None,
            announcements: Vec::new(),
            music: String::from("hold-music"),
            callback: None,
            max_wait_ms: None,
            max_callers: None,
            overflow,
            wrapup_ms: 0,
        };
        let mut ending = None;
        for option in &decl.options {
            if let QueueOption::Overflow(stmt, _) = option {
                ending = Some(stmt);
            }
            // A failed option was reported; the others are still compiled.
            let _ = self.queue_option(&mut queue, option, scope);
        }
        if let (Some(block), Some(stmt)) = (overflow, ending) {
            let mut code = Code::default();
            let _ = self.stmt(&mut code, scope, stmt);
            self.set_block(block, code.finish(Instr::End));
        }
        if let Some(slot) = self.queues.get_mut(id.0 as usize) {
            *slot = Some(queue);
        }
    }

    fn queue_option(
        &mut self,
        queue: &mut Queue,
        option: &'p QueueOption,
        scope: usize,
    ) -> Compiled<()> {
        match option {
            QueueOption::Strategy(strategy, _) => queue.strategy = *strategy,
            QueueOption::Needs(needs, _) => {
                for need in needs {
                    queue.needs.push(match need {
                        ast::Need::Language(_) => QueueNeed::Language,
                        ast::Need::Skill { skill, level, .. } => QueueNeed::Skill {
                            skill: self.skill(skill)?,
                            level: *level,
                        },
                    });
                }
            }
            QueueOption::Relax {
                after,
                skill,
                level,
                ..
            } => queue.relax.push(RelaxStep {
                after_ms: after.millis,
                skill: self.skill(skill)?,
                level: Some(*level),
            }),
            QueueOption::Drop { after, skill, .. } => queue.relax.push(RelaxStep {
                after_ms: after.millis,
                skill: self.skill(skill)?,
                level: None,
            }),
            QueueOption::Sticky(duration, _) => queue.sticky_ms = Some(duration.millis),
            QueueOption::Priority(expr, _) => {
                let (unit, ty) = self.unit(scope, expr, Some(Type::Int), false)?;
                if ty != Type::Int {
                    let message = format!("a priority must be an integer, not {}", ty.as_str());
                    return Err(self.fail(expr.span, message, "not an integer"));
                }
                queue.priority = Some(unit);
            }
            QueueOption::Target {
                percent,
                within,
                span,
            } => {
                if !(0.0..=100.0).contains(percent) {
                    let message = format!("target {percent}% is outside 0-100%");
                    return Err(self.fail(*span, message, "not a share"));
                }
                queue.target = Some(ServiceTarget {
                    percent: *percent,
                    within_ms: within.millis,
                });
            }
            QueueOption::Announce { what, every, .. } => queue.announcements.push(Announcement {
                what: match what {
                    ast::Announcement::Position => AnnounceKind::Position,
                    ast::Announcement::Wait => AnnounceKind::Wait,
                    ast::Announcement::PositionAndWait => AnnounceKind::PositionAndWait,
                    ast::Announcement::Prompt(prompt) => AnnounceKind::Prompt(prompt.value.clone()),
                },
                every_ms: every.map(|d| d.millis),
            }),
            QueueOption::Music(prompt, _) => queue.music = prompt.value.clone(),
            QueueOption::Callback { after, key, span } => {
                let Some(key) = Key::new(key.map_or('1', |k| k.key)) else {
                    return Err(self.fail(*span, "the callback key is not a key", "not a key"));
                };
                queue.callback = Some(CallbackOffer {
                    after_ms: after.millis,
                    key,
                });
            }
            QueueOption::MaxWait(duration, _) => queue.max_wait_ms = Some(duration.millis),
            QueueOption::MaxCallers(count, _) => queue.max_callers = Some(*count),
            QueueOption::Overflow(..) => {}
            QueueOption::Wrapup(duration, _) => queue.wrapup_ms = duration.millis,
        }
        Ok(())
    }

    fn skill(&mut self, skill: &Ident) -> Compiled<String> {
        if self.index.project.config.skills.contains_key(&skill.name) {
            Ok(skill.name.clone())
        } else {
            let message = format!("skill `{}` is not declared in the config", skill.name);
            Err(self.fail(skill.span, message, "unknown skill"))
        }
    }
}
