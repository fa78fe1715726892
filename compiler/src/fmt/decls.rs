//! Top-level declarations: the flow header, schedules, queues and
//! handlers.

use super::exprs::string;
use super::lex::{Lexer, TokenKind, find_code_byte};
use super::printer::Printer;
use super::stmts::strings;
use crate::diag::Span;
use crate::syntax::ast::{
    Announcement, Block, DateItem, DateLit, DayRange, Decl, FlowHeader, Hours, HoursRule, Ident,
    Need, Queue, QueueOption, StringLit, TimeLit, TimeRange,
};

impl Printer<'_> {
    /// Prints one declaration and ends its last line.
    pub(super) fn decl(&mut self, decl: &Decl) {
        let span = decl.span();
        match decl {
            Decl::Flow(header) => self.flow_header(header),
            Decl::Hours(hours) => self.hours(hours),
            Decl::Queue(queue) => self.queue(queue),
            Decl::OnCall(handler) => self.handler("on call", span, &handler.body),
            Decl::AfterCall(handler) => self.handler("after call", span, &handler.body),
            Decl::Step(named) => {
                self.handler(&format!("step {}", named.name.name), span, &named.body)
            }
            Decl::Subflow(named) => {
                self.handler(&format!("subflow {}", named.name.name), span, &named.body)
            }
        }
        self.end_line(self.code_end(span.end as usize));
    }

    fn flow_header(&mut self, header: &FlowHeader) {
        let end = self.code_end(header.span.end as usize);
        self.leading(header.span.start as usize, end);
        self.word(&format!("flow {}", header.name.name));
        if !header.answers.is_empty() {
            self.word(&format!(" answers {}", strings(&header.answers)));
        }
    }

    fn handler(&mut self, head: &str, span: Span, body: &Block) {
        self.leading(span.start as usize, body.span.start as usize);
        self.word(head);
        self.word(" ");
        self.block(body);
    }

    /// Prints `head {` and the lines that `body` prints, up to `}`; the
    /// brace is the first one after `after` in the source.
    fn decl_block(
        &mut self,
        span: Span,
        after: usize,
        head: &str,
        empty: bool,
        body: impl FnOnce(&mut Self),
    ) {
        let start = span.start as usize;
        let open = find_code_byte(self.src, after, b'{').unwrap_or(start);
        self.leading(start, open);
        self.word(head);
        self.word(" ");
        let close = self.code_end(span.end as usize).saturating_sub(1);
        self.braced(open, close, empty, body);
    }

    fn hours(&mut self, hours: &Hours) {
        let head = format!("hours {} in {}", hours.name.name, string(&hours.zone));
        let after = hours.zone.span.end as usize;
        self.decl_block(hours.span, after, &head, hours.rules.is_empty(), |p| {
            for rule in &hours.rules {
                let span = rule_span(rule);
                let end = p.code_end(span.end as usize);
                p.leading(span.start as usize, end);
                let text = p.hours_rule(rule);
                p.word(&text);
                p.end_line(end);
            }
        });
    }

    fn hours_rule(&self, rule: &HoursRule) -> String {
        match rule {
            HoursRule::Weekly { days, ranges, .. } => {
                let days: Vec<_> = days.iter().map(|d| self.day_range(d)).collect();
                format!("{} {}", days.join(", "), time_ranges(ranges))
            }
            HoursRule::Holiday { dates, .. } => {
                let dates: Vec<_> = dates.iter().map(date_item).collect();
                format!("holiday {}", dates.join(", "))
            }
            HoursRule::Exception { date, ranges, .. } if ranges.is_empty() => {
                format!("on {} closed", date_text(date))
            }
            HoursRule::Exception { date, ranges, .. } => {
                format!("on {} {}", date_text(date), time_ranges(ranges))
            }
        }
    }

    /// Returns `mon` or `mon..fri`; `mon..mon` stays a range as written.
    fn day_range(&self, days: &DayRange) -> String {
        let end = self.code_end(days.span.end as usize);
        if self.source(days.span.start as usize..end).contains("..") {
            format!("{}..{}", days.first.as_str(), days.last.as_str())
        } else {
            days.first.as_str().to_string()
        }
    }

    fn queue(&mut self, queue: &Queue) {
        let head = format!("queue {}", queue.name.name);
        let after = queue.name.span.end as usize;
        self.decl_block(queue.span, after, &head, queue.options.is_empty(), |p| {
            for option in &queue.options {
                p.queue_option_line(option);
            }
        });
    }

    fn queue_option_line(&mut self, option: &QueueOption) {
        let span = option.span();
        let end = self.code_end(span.end as usize);
        let header_end = match option {
            QueueOption::Overflow(ending, _) => self.header_end(ending),
            _ => end,
        };
        self.leading(span.start as usize, header_end);
        if let QueueOption::Overflow(ending, _) = option {
            self.word("overflow ");
            self.stmt(ending);
        } else {
            let text = self.queue_option(option);
            self.word(&text);
        }
        self.end_line(end);
    }

    fn queue_option(&self, option: &QueueOption) -> String {
        let exprs = self.exprs();
        match option {
            QueueOption::Strategy(strategy, _) => format!("strategy {}", strategy.as_str()),
            QueueOption::Needs(needs, _) => {
                let needs: Vec<_> = needs.iter().map(|n| self.need(n)).collect();
                format!("needs {}", needs.join(", "))
            }
            QueueOption::Relax {
                after,
                skill,
                level,
                ..
            } => format!(
                "after {} relax {} >= {level}",
                exprs.duration(after),
                self.skill(skill)
            ),
            QueueOption::Drop { after, skill, .. } => {
                format!("after {} drop {}", exprs.duration(after), self.skill(skill))
            }
            QueueOption::Sticky(wait, _) => format!("sticky for {}", exprs.duration(wait)),
            QueueOption::Priority(value, _) => format!("priority {}", exprs.expr(value)),
            QueueOption::Target {
                percent,
                within,
                span,
            } => format!(
                "target {} within {}",
                self.percent(*span, *percent),
                exprs.duration(within)
            ),
            QueueOption::Announce { what, every, .. } => {
                let mut text = format!("announce {}", announcement(what));
                if let Some(every) = every {
                    text.push_str(&format!(" every {}", exprs.duration(every)));
                }
                text
            }
            QueueOption::Music(prompt, _) => format!("music {}", string(prompt)),
            QueueOption::Callback { after, key, .. } => {
                let mut text = format!("callback after {}", exprs.duration(after));
                if let Some(key) = key {
                    text.push_str(&format!(" key {}", key.key));
                }
                text
            }
            QueueOption::MaxWait(wait, _) => format!("max wait {}", exprs.duration(wait)),
            QueueOption::MaxCallers(count, _) => format!("max callers {count}"),
            QueueOption::Wrapup(wait, _) => format!("wrapup {}", exprs.duration(wait)),
            // Printed by `queue_option_line`, since it may hold a block.
            QueueOption::Overflow(..) => String::new(),
        }
    }

    /// Returns `language`, or a skill with its level when one is written.
    fn need(&self, need: &Need) -> String {
        match need {
            Need::Language(_) => "language".to_string(),
            Need::Skill { skill, level, span }
                if self.code_end(span.end as usize) > skill.span.end as usize =>
            {
                format!("{} >= {level}", self.skill(skill))
            }
            Need::Skill { skill, .. } => self.skill(skill),
        }
    }

    /// Returns a skill name, quoted when it was written as a string.
    fn skill(&self, skill: &Ident) -> String {
        let written = self.source(skill.span.range());
        if written.starts_with('"') {
            string(&StringLit {
                value: skill.name.clone(),
                span: skill.span,
            })
        } else {
            skill.name.clone()
        }
    }

    /// Returns the percentage of a `target` option as written, such as
    /// `80%` or `99.5%`.
    fn percent(&self, option: Span, value: f64) -> String {
        let range = option.range();
        let mut tokens = Lexer::new(self.src, range.start).take_while(|t| t.start < range.end);
        let first_digit = tokens.find(|t| {
            t.kind == TokenKind::Word
                && self
                    .source(t.start..t.end)
                    .starts_with(|c: char| c.is_ascii_digit())
        });
        let sign = tokens.find(|t| t.kind == TokenKind::Punct(b'%'));
        match (first_digit, sign) {
            (Some(first), Some(sign)) => self.source(first.start..sign.end).to_string(),
            _ => format!("{value}%"),
        }
    }
}

fn rule_span(rule: &HoursRule) -> Span {
    match rule {
        HoursRule::Weekly { span, .. }
        | HoursRule::Holiday { span, .. }
        | HoursRule::Exception { span, .. } => *span,
    }
}

fn announcement(what: &Announcement) -> String {
    match what {
        Announcement::Position => "position".to_string(),
        Announcement::Wait => "wait".to_string(),
        Announcement::PositionAndWait => "position and wait".to_string(),
        Announcement::Prompt(prompt) => string(prompt),
    }
}

fn time_text(time: &TimeLit) -> String {
    format!("{:02}:{:02}", time.hour, time.minute)
}

fn time_ranges(ranges: &[TimeRange]) -> String {
    let ranges: Vec<_> = ranges
        .iter()
        .map(|r| {
            let overnight = if r.overnight { " overnight" } else { "" };
            format!("{}..{}{overnight}", time_text(&r.start), time_text(&r.end))
        })
        .collect();
    ranges.join(", ")
}

fn date_text(date: &DateLit) -> String {
    format!("{:04}-{:02}-{:02}", date.year, date.month, date.day)
}

fn date_item(item: &DateItem) -> String {
    match &item.last {
        Some(last) => format!("{}..{}", date_text(&item.first), date_text(last)),
        None => date_text(&item.first),
    }
}
