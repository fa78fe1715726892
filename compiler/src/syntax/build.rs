//! Building the syntax tree from pest's pairs.
//!
//! The grammar guarantees the shape of every pair, so a pair of an
//! unexpected rule is an internal error; it is reported as a syntax error
//! at that place instead of a panic.

use super::ast::*;
use super::{FlowParser, Rule};
use crate::diag::{Code, Diagnostic, FileId, Span};
use pest::Parser;
use pest::error::Error;
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};

type Result<T> = std::result::Result<T, Error<Rule>>;

/// The children of a pair without keyword tokens.
type Inner<'a> = std::iter::Filter<Pairs<'a, Rule>, fn(&Pair<'a, Rule>) -> bool>;

fn is_content(pair: &Pair<'_, Rule>) -> bool {
    !super::is_keyword_rule(pair.as_rule())
}

fn inner<'a>(pair: &Pair<'a, Rule>) -> Inner<'a> {
    pair.clone()
        .into_inner()
        .filter(is_content as fn(&Pair<'a, Rule>) -> bool)
}

/// Builds declarations of one file; `offset` is where the current piece
/// starts in the file, added to every span.
pub struct Builder {
    file: FileId,
    offset: usize,
    /// Problems found in literals while building (out-of-range numbers).
    pub diagnostics: Vec<Diagnostic>,
    /// True when building stopped on a problem already in `diagnostics`,
    /// so the caller reports no syntax error of its own.
    pub aborted: bool,
}

fn internal(pair: &Pair<'_, Rule>, what: &str) -> Error<Rule> {
    Error::new_from_span(
        pest::error::ErrorVariant::CustomError {
            message: format!("{what} (found {:?})", pair.as_rule()),
        },
        pair.as_span(),
    )
}

fn missing(pair: &Pair<'_, Rule>, what: &str) -> Error<Rule> {
    Error::new_from_span(
        pest::error::ErrorVariant::CustomError {
            message: what.to_string(),
        },
        pair.as_span(),
    )
}

/// Takes the next inner pair or fails with a description.
fn next<'a>(pairs: &mut Inner<'a>, parent: &Pair<'a, Rule>, what: &str) -> Result<Pair<'a, Rule>> {
    pairs.next().ok_or_else(|| missing(parent, what))
}

impl Builder {
    /// Creates a builder for the piece starting at `offset`.
    pub fn new(file: FileId, offset: usize) -> Self {
        Builder {
            file,
            offset,
            diagnostics: Vec::new(),
            aborted: false,
        }
    }

    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        let end = s.start() + without_trailing_trivia(pair.as_str()).len();
        Span::new(self.offset + s.start(), self.offset + end)
    }

    fn ident(&self, pair: &Pair<'_, Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(pair),
        }
    }

    /// Parses one declaration piece.
    pub fn declaration(&mut self, piece: &str) -> Result<Decl> {
        let mut pairs = FlowParser::parse(Rule::declaration_only, piece)?;
        let top = pairs.next().ok_or_else(|| {
            Error::new_from_pos(
                pest::error::ErrorVariant::CustomError {
                    message: String::from("a declaration"),
                },
                pest::Position::from_start(piece),
            )
        })?;
        let mut items = inner(&top);
        let decl = next(&mut items, &top, "a declaration")?;
        let span = self.span(&decl);
        let rule = decl.as_rule();
        let mut parts = inner(&decl);
        Ok(match rule {
            Rule::flow_header => {
                let name = self.ident(&next(&mut parts, &decl, "a flow name")?);
                let answers = match parts.next() {
                    Some(list) => inner(&list)
                        .map(|p| self.string_lit(&p))
                        .collect::<Result<_>>()?,
                    None => Vec::new(),
                };
                Decl::Flow(FlowHeader {
                    name,
                    answers,
                    span,
                })
            }
            Rule::hours_decl => Decl::Hours(self.hours(&decl, span)?),
            Rule::queue_decl => Decl::Queue(self.queue(&decl, span)?),
            Rule::call_handler => Decl::OnCall(Handler {
                body: self.block(&next(&mut parts, &decl, "a block")?)?,
                span,
            }),
            Rule::after_handler => Decl::AfterCall(Handler {
                body: self.block(&next(&mut parts, &decl, "a block")?)?,
                span,
            }),
            Rule::step_decl | Rule::subflow_decl => {
                let name = self.ident(&next(&mut parts, &decl, "a name")?);
                let body = self.block(&next(&mut parts, &decl, "a block")?)?;
                let named = Named { name, body, span };
                if rule == Rule::step_decl {
                    Decl::Step(named)
                } else {
                    Decl::Subflow(named)
                }
            }
            _ => return Err(internal(&decl, "a declaration")),
        })
    }

    // ------------------------------------------------------------ literals

    fn string_lit(&mut self, pair: &Pair<'_, Rule>) -> Result<StringLit> {
        let span = self.span(pair);
        let mut value = String::new();
        for part in inner(pair) {
            match part.as_rule() {
                Rule::string_text => value.push_str(part.as_str()),
                Rule::string_escape => value.push(self.escape(&part)),
                Rule::interpolation => {
                    self.diagnostics.push(
                        Diagnostic::new(Code::InvalidLiteral, "a name here cannot contain `{...}`")
                            .primary(
                                self.file,
                                self.span(&part),
                                "interpolation not allowed here",
                            )
                            .help("write the name literally; escape a brace as `\\{`"),
                    );
                }
                _ => return Err(internal(&part, "text")),
            }
        }
        Ok(StringLit { value, span })
    }

    /// Resolves an escape such as `\n`; an unknown one is reported and
    /// kept as the character after the backslash.
    fn escape(&mut self, pair: &Pair<'_, Rule>) -> char {
        if let Some(c) = unescape(pair.as_str()) {
            return c;
        }
        self.invalid_literal(
            pair,
            "unknown escape",
            "known escapes are \\\" \\\\ \\n \\t \\{ and \\}; write `\\\\` for a backslash",
        );
        pair.as_str().chars().nth(1).unwrap_or('\\')
    }

    fn integer(&mut self, pair: &Pair<'_, Rule>) -> u32 {
        match pair.as_str().parse::<u32>() {
            Ok(value) => value,
            Err(_) => {
                self.invalid_literal(
                    pair,
                    "number too large",
                    "use a whole number below 4294967296",
                );
                0
            }
        }
    }

    fn int_lit(&mut self, pair: &Pair<'_, Rule>) -> IntLit {
        IntLit {
            value: self.integer(pair),
            span: self.span(pair),
        }
    }

    fn invalid_literal(&mut self, pair: &Pair<'_, Rule>, message: &str, help: &str) {
        let diagnostic = Diagnostic::new(
            Code::InvalidLiteral,
            format!("{message}: `{}`", pair.as_str()),
        )
        .primary(self.file, self.span(pair), message.to_string())
        .help(help.to_string());
        self.diagnostics.push(diagnostic);
    }

    fn duration(&mut self, pair: &Pair<'_, Rule>) -> DurationLit {
        let span = self.span(pair);
        match parse_duration(pair.as_str()) {
            Some(millis) => DurationLit { millis, span },
            None => {
                self.invalid_literal(
                    pair,
                    "duration too long",
                    "durations must stay below 24 days",
                );
                DurationLit { millis: 0, span }
            }
        }
    }

    fn date(&self, pair: &Pair<'_, Rule>) -> DateLit {
        let text = pair.as_str();
        let field = |range: std::ops::Range<usize>| {
            text.get(range).and_then(|t| t.parse().ok()).unwrap_or(0)
        };
        DateLit {
            year: field(0..4) as i16,
            month: field(5..7) as u8,
            day: field(8..10) as u8,
            span: self.span(pair),
        }
    }

    fn time(&self, pair: &Pair<'_, Rule>) -> TimeLit {
        let text = pair.as_str();
        let field = |range: std::ops::Range<usize>| {
            text.get(range).and_then(|t| t.parse().ok()).unwrap_or(0)
        };
        TimeLit {
            hour: field(0..2),
            minute: field(3..5),
            span: self.span(pair),
        }
    }

    fn key(&self, pair: &Pair<'_, Rule>) -> KeyLit {
        KeyLit {
            key: pair.as_str().chars().next().unwrap_or('0'),
            span: self.span(pair),
        }
    }

    // ------------------------------------------------------------ schedules

    fn hours(&mut self, decl: &Pair<'_, Rule>, span: Span) -> Result<Hours> {
        let mut parts = inner(decl);
        let name = self.ident(&next(&mut parts, decl, "a schedule name")?);
        let zone = self.string_lit(&next(&mut parts, decl, "a time zone")?)?;
        let mut rules = Vec::new();
        for rule in parts {
            let rule_span = self.span(&rule);
            let mut items = inner(&rule);
            rules.push(match rule.as_rule() {
                Rule::weekly_rule => {
                    let days_pair = next(&mut items, &rule, "weekdays")?;
                    let days = inner(&days_pair)
                        .map(|d| self.day_range(&d))
                        .collect::<Result<_>>()?;
                    let ranges = self.time_ranges(&next(&mut items, &rule, "time ranges")?)?;
                    HoursRule::Weekly {
                        days,
                        ranges,
                        span: rule_span,
                    }
                }
                Rule::holiday_rule => {
                    let dates = items
                        .map(|item| {
                            let item_span = self.span(&item);
                            let mut dates = inner(&item);
                            let first = dates.next().map(|d| self.date(&d));
                            let last = dates.next().map(|d| self.date(&d));
                            first.map(|first| DateItem {
                                first,
                                last,
                                span: item_span,
                            })
                        })
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| missing(&rule, "a date"))?;
                    HoursRule::Holiday {
                        dates,
                        span: rule_span,
                    }
                }
                Rule::exception_rule => {
                    let date = self.date(&next(&mut items, &rule, "a date")?);
                    let what = next(&mut items, &rule, "`closed` or time ranges")?;
                    let ranges = match what.as_rule() {
                        Rule::closed => Vec::new(),
                        _ => self.time_ranges(&what)?,
                    };
                    HoursRule::Exception {
                        date,
                        ranges,
                        span: rule_span,
                    }
                }
                _ => return Err(internal(&rule, "a schedule rule")),
            });
        }
        Ok(Hours {
            name,
            zone,
            rules,
            span,
        })
    }

    fn day_range(&self, pair: &Pair<'_, Rule>) -> Result<DayRange> {
        let mut days = inner(pair);
        let first = weekday(&next(&mut days, pair, "a weekday")?)?;
        let last = match days.next() {
            Some(d) => weekday(&d)?,
            None => first,
        };
        Ok(DayRange {
            first,
            last,
            span: self.span(pair),
        })
    }

    fn time_ranges(&self, pair: &Pair<'_, Rule>) -> Result<Vec<TimeRange>> {
        inner(pair)
            .map(|range| {
                let mut parts = inner(&range);
                let start = self.time(&next(&mut parts, &range, "a start time")?);
                let end = self.time(&next(&mut parts, &range, "an end time")?);
                let overnight = parts.next().is_some();
                Ok(TimeRange {
                    start,
                    end,
                    overnight,
                    span: self.span(&range),
                })
            })
            .collect()
    }

    // ------------------------------------------------------------ queues

    fn queue(&mut self, decl: &Pair<'_, Rule>, span: Span) -> Result<Queue> {
        let mut parts = inner(decl);
        let name = self.ident(&next(&mut parts, decl, "a queue name")?);
        let options = parts
            .map(|option| self.queue_option(&option))
            .collect::<Result<_>>()?;
        Ok(Queue {
            name,
            options,
            span,
        })
    }

    fn skill(&mut self, pair: &Pair<'_, Rule>) -> Result<Ident> {
        Ok(match pair.as_rule() {
            Rule::string => {
                let lit = self.string_lit(pair)?;
                Ident {
                    name: lit.value,
                    span: lit.span,
                }
            }
            _ => self.ident(pair),
        })
    }

    fn queue_option(&mut self, option: &Pair<'_, Rule>) -> Result<QueueOption> {
        let span = self.span(option);
        let mut parts = inner(option);
        Ok(match option.as_rule() {
            Rule::strategy_option => {
                let strategy = next(&mut parts, option, "a strategy")?;
                QueueOption::Strategy(strategy_from(&strategy)?, span)
            }
            Rule::needs_option => {
                let mut needs = Vec::new();
                for need in parts {
                    needs.push(match need.as_rule() {
                        Rule::need_language => Need::Language(self.span(&need)),
                        _ => {
                            let mut items = inner(&need);
                            let skill = self.skill(&next(&mut items, &need, "a skill")?)?;
                            let level = items.next().map_or(1, |l| self.integer(&l));
                            Need::Skill {
                                skill,
                                level,
                                span: self.span(&need),
                            }
                        }
                    });
                }
                QueueOption::Needs(needs, span)
            }
            Rule::relax_option => {
                let after = self.duration(&next(&mut parts, option, "a duration")?);
                let change = next(&mut parts, option, "`relax` or `drop`")?;
                let mut items = inner(&change);
                let skill = self.skill(&next(&mut items, &change, "a skill")?)?;
                match change.as_rule() {
                    Rule::relax_level => {
                        let level = self.integer(&next(&mut items, &change, "a level")?);
                        QueueOption::Relax {
                            after,
                            skill,
                            level,
                            span,
                        }
                    }
                    _ => QueueOption::Drop { after, skill, span },
                }
            }
            Rule::sticky_option => QueueOption::Sticky(
                self.duration(&next(&mut parts, option, "a duration")?),
                span,
            ),
            Rule::priority_option => {
                QueueOption::Priority(self.expr(&next(&mut parts, option, "a value")?)?, span)
            }
            Rule::target_option => {
                let percent_pair = next(&mut parts, option, "a percentage")?;
                let percent = percent_pair
                    .as_str()
                    .trim_end_matches('%')
                    .parse()
                    .unwrap_or(0.0);
                let within = self.duration(&next(&mut parts, option, "a duration")?);
                QueueOption::Target {
                    percent,
                    within,
                    span,
                }
            }
            Rule::announce_option => {
                let what_pair = next(&mut parts, option, "what to announce")?;
                let what = match what_pair.as_rule() {
                    Rule::announce_position_wait => Announcement::PositionAndWait,
                    Rule::announce_position => Announcement::Position,
                    Rule::announce_wait => Announcement::Wait,
                    _ => Announcement::Prompt(self.string_lit(&what_pair)?),
                };
                let every = parts.next().map(|d| self.duration(&d));
                QueueOption::Announce { what, every, span }
            }
            Rule::music_option => QueueOption::Music(
                self.string_lit(&next(&mut parts, option, "a prompt")?)?,
                span,
            ),
            Rule::callback_option => {
                let after = self.duration(&next(&mut parts, option, "a duration")?);
                let key = parts.next().map(|k| self.key(&k));
                QueueOption::Callback { after, key, span }
            }
            Rule::max_wait_option => QueueOption::MaxWait(
                self.duration(&next(&mut parts, option, "a duration")?),
                span,
            ),
            Rule::max_callers_option => {
                QueueOption::MaxCallers(self.integer(&next(&mut parts, option, "a number")?), span)
            }
            Rule::overflow_option => {
                let ending = next(&mut parts, option, "an ending")?;
                QueueOption::Overflow(Box::new(self.statement(&ending)?), span)
            }
            Rule::wrapup_option => QueueOption::Wrapup(
                self.duration(&next(&mut parts, option, "a duration")?),
                span,
            ),
            _ => return Err(internal(option, "a queue option")),
        })
    }

    // ------------------------------------------------------------ statements

    fn block(&mut self, pair: &Pair<'_, Rule>) -> Result<Block> {
        let stmts = inner(pair)
            .map(|s| self.statement(&s))
            .collect::<Result<_>>()?;
        Ok(Block {
            stmts,
            span: self.span(pair),
            braced: true,
        })
    }

    /// An `arm_body`: a braced block or one statement.
    fn arm_body(&mut self, pair: &Pair<'_, Rule>) -> Result<Block> {
        let first = inner(pair)
            .next()
            .ok_or_else(|| missing(pair, "a statement"))?;
        if first.as_rule() == Rule::block {
            return self.block(&first);
        }
        let stmt = self.statement(&first)?;
        Ok(Block {
            span: stmt.span,
            stmts: vec![stmt],
            braced: false,
        })
    }

    fn strings(&mut self, pairs: Inner<'_>) -> Result<Vec<StringLit>> {
        pairs.map(|p| self.string_lit(&p)).collect()
    }

    fn statement(&mut self, pair: &Pair<'_, Rule>) -> Result<Stmt> {
        let span = self.span(pair);
        let mut parts = inner(pair);
        let kind = match pair.as_rule() {
            Rule::play_stmt => StmtKind::Play(self.strings(parts)?),
            Rule::menu_stmt => StmtKind::Menu(self.menu(parts)?),
            Rule::collect_stmt => StmtKind::Collect(self.collect(pair, parts)?),
            Rule::lookup_stmt => StmtKind::Lookup(self.lookup(pair, parts)?),
            Rule::let_stmt | Rule::set_stmt => {
                let name = self.ident(&next(&mut parts, pair, "a name")?);
                let value = self.expr(&next(&mut parts, pair, "a value")?)?;
                if pair.as_rule() == Rule::let_stmt {
                    StmtKind::Let(name, value)
                } else {
                    StmtKind::Set(name, value)
                }
            }
            Rule::if_stmt => self.if_stmt(pair, parts)?,
            Rule::match_stmt => {
                let subject = self.expr(&next(&mut parts, pair, "a value")?)?;
                let arms = parts
                    .map(|arm| self.match_arm(&arm))
                    .collect::<Result<_>>()?;
                StmtKind::Match(subject, arms)
            }
            Rule::goto_stmt => StmtKind::Goto(self.ident(&next(&mut parts, pair, "a step")?)),
            Rule::run_stmt => StmtKind::Run(self.ident(&next(&mut parts, pair, "a sub-flow")?)),
            Rule::return_stmt => StmtKind::Return,
            Rule::enqueue_stmt => {
                let queue = self.ident(&next(&mut parts, pair, "a queue")?);
                let otherwise = parts.next().map(|b| self.arm_body(&b)).transpose()?;
                StmtKind::Enqueue(queue, otherwise)
            }
            Rule::transfer_stmt => {
                StmtKind::Transfer(self.expr(&next(&mut parts, pair, "a destination")?)?)
            }
            Rule::voicemail_stmt => {
                StmtKind::Voicemail(self.string_lit(&next(&mut parts, pair, "a mailbox")?)?)
            }
            Rule::hangup_stmt => StmtKind::Hangup,
            Rule::record_stmt => {
                let mode = next(&mut parts, pair, "a recording mode")?;
                StmtKind::Record(match mode.as_str() {
                    "on" => RecordMode::On,
                    "off" => RecordMode::Off,
                    "pause" => RecordMode::Pause,
                    _ => RecordMode::Resume,
                })
            }
            Rule::tag_stmt => StmtKind::Tag(parts.map(|e| self.expr(&e)).collect::<Result<_>>()?),
            Rule::timeline_stmt => {
                StmtKind::Timeline(self.expr(&next(&mut parts, pair, "a text")?)?)
            }
            Rule::ticket_stmt => {
                let mode_pair = next(&mut parts, pair, "a ticket mode")?;
                let mode = match mode_pair.as_rule() {
                    Rule::ticket_link_or_create => TicketMode::LinkOrCreate,
                    Rule::ticket_create => TicketMode::Create,
                    _ => TicketMode::Link,
                };
                let subject = parts.next().map(|e| self.expr(&e)).transpose()?;
                StmtKind::Ticket(mode, subject)
            }
            Rule::survey_stmt => {
                let question = self.string_lit(&next(&mut parts, pair, "a prompt")?)?;
                let thanks = parts.next().map(|p| self.string_lit(&p)).transpose()?;
                StmtKind::Survey(question, thanks)
            }
            Rule::webhook_stmt => StmtKind::Webhook(self.ident(&next(&mut parts, pair, "a hook")?)),
            Rule::notify_stmt => {
                let hook = self.ident(&next(&mut parts, pair, "a hook")?);
                StmtKind::Notify(hook, self.expr(&next(&mut parts, pair, "a message")?)?)
            }
            _ => return Err(internal(pair, "a statement")),
        };
        Ok(Stmt { kind, span })
    }

    fn if_stmt<'a>(&mut self, pair: &Pair<'a, Rule>, mut parts: Inner<'a>) -> Result<StmtKind> {
        let condition = self.expr(&next(&mut parts, pair, "a condition")?)?;
        let body = self.block(&next(&mut parts, pair, "a block")?)?;
        let mut branches = vec![(condition, body)];
        let mut otherwise = None;
        for part in parts {
            let mut items = inner(&part);
            match part.as_rule() {
                Rule::else_if => {
                    let condition = self.expr(&next(&mut items, &part, "a condition")?)?;
                    let body = self.block(&next(&mut items, &part, "a block")?)?;
                    branches.push((condition, body));
                }
                _ => otherwise = Some(self.block(&next(&mut items, &part, "a block")?)?),
            }
        }
        Ok(StmtKind::If {
            branches,
            otherwise,
        })
    }

    fn match_arm(&mut self, arm: &Pair<'_, Rule>) -> Result<MatchArm> {
        let mut parts = inner(arm);
        let pattern_pair = next(&mut parts, arm, "a pattern")?;
        let pattern = match pattern_pair.as_rule() {
            Rule::pattern_else => Pattern::Else(self.span(&pattern_pair)),
            Rule::pattern_starts => {
                let prefix = next(&mut inner(&pattern_pair), &pattern_pair, "a text")?;
                Pattern::StartsWith(self.string_lit(&prefix)?)
            }
            _ => Pattern::Exact(self.strings(inner(&pattern_pair))?),
        };
        let body = self.arm_body(&next(&mut parts, arm, "a statement")?)?;
        Ok(MatchArm {
            pattern,
            body,
            span: self.span(arm),
        })
    }

    fn failure_arm(&mut self, arm: &Pair<'_, Rule>) -> Result<FailureArm> {
        let mut parts = inner(arm);
        let kind = match next(&mut parts, arm, "an arm")?.as_rule() {
            Rule::arm_invalid => FailureKind::Invalid,
            Rule::arm_no_input => FailureKind::NoInput,
            Rule::arm_exhausted => FailureKind::Exhausted,
            _ => FailureKind::Failed,
        };
        let body = self.arm_body(&next(&mut parts, arm, "a statement")?)?;
        Ok(FailureArm {
            kind,
            body,
            span: self.span(arm),
        })
    }

    fn menu(&mut self, parts: Inner<'_>) -> Result<Menu> {
        let mut menu = Menu {
            prompts: Vec::new(),
            timeout: None,
            attempts: None,
            keys: Vec::new(),
            failures: Vec::new(),
            prompt_span: None,
        };
        let mut seen = Vec::new();
        for item in parts {
            self.note_repeat(&mut seen, &item, "menu");
            let mut items = inner(&item);
            match item.as_rule() {
                Rule::prompt_option => {
                    menu.prompt_span = Some(self.span(&item));
                    menu.prompts = self.strings(items)?;
                }
                Rule::timeout_option => {
                    menu.timeout = Some(self.duration(&next(&mut items, &item, "a duration")?))
                }
                Rule::attempts_option => {
                    menu.attempts = Some(self.int_lit(&next(&mut items, &item, "a number")?))
                }
                Rule::key_arm => {
                    let key = self.key(&next(&mut items, &item, "a key")?);
                    let body = self.arm_body(&next(&mut items, &item, "a statement")?)?;
                    menu.keys.push((key, body));
                }
                Rule::failure_arm => menu.failures.push(self.failure_arm(&item)?),
                _ => return Err(internal(&item, "a menu item")),
            }
        }
        Ok(menu)
    }

    /// Reports an option written twice in one menu, collect or lookup; the
    /// tree keeps only the last, so the first would be lost without a word.
    /// Arms written twice are the checker's to report.
    fn note_repeat(&mut self, seen: &mut Vec<(Rule, Span)>, item: &Pair<'_, Rule>, what: &str) {
        let rule = item.as_rule();
        if matches!(rule, Rule::failure_arm | Rule::key_arm) {
            return;
        }
        let span = self.span(item);
        let Some((_, first)) = seen.iter().find(|(r, _)| *r == rule) else {
            seen.push((rule, span));
            return;
        };
        let name = item.as_str().split_whitespace().next().unwrap_or_default();
        let diagnostic = Diagnostic::new(
            Code::DuplicateName,
            format!("`{name}` is written twice in this {what}"),
        )
        .primary(self.file, span, "written again here")
        .secondary(self.file, *first, "first written here")
        .help(format!("keep one `{name}`; only one can apply"));
        self.diagnostics.push(diagnostic);
    }

    fn collect<'a>(&mut self, pair: &Pair<'a, Rule>, mut parts: Inner<'a>) -> Result<Collect> {
        let var = self.ident(&next(&mut parts, pair, "a variable name")?);
        let mut collect = Collect {
            var,
            prompts: Vec::new(),
            timeout: None,
            attempts: None,
            length: None,
            terminator: None,
            interdigit: None,
            valid: None,
            sensitive: false,
            failures: Vec::new(),
        };
        let mut seen = Vec::new();
        for item in parts {
            self.note_repeat(&mut seen, &item, "collect");
            let mut items = inner(&item);
            match item.as_rule() {
                Rule::prompt_option => collect.prompts = self.strings(items)?,
                Rule::timeout_option => {
                    collect.timeout = Some(self.duration(&next(&mut items, &item, "a duration")?))
                }
                Rule::attempts_option => {
                    collect.attempts = Some(self.int_lit(&next(&mut items, &item, "a number")?))
                }
                Rule::length_option => {
                    let min = self.int_lit(&next(&mut items, &item, "a length")?);
                    let max = items.next().map_or(min, |p| self.int_lit(&p));
                    collect.length = Some((min, max));
                }
                Rule::terminator_option => {
                    collect.terminator = Some(self.key(&next(&mut items, &item, "a key")?))
                }
                Rule::interdigit_option => {
                    collect.interdigit =
                        Some(self.duration(&next(&mut items, &item, "a duration")?));
                }
                Rule::valid_option => {
                    collect.valid = Some(self.expr(&next(&mut items, &item, "a condition")?)?)
                }
                Rule::sensitive_option => collect.sensitive = true,
                Rule::failure_arm => collect.failures.push(self.failure_arm(&item)?),
                _ => return Err(internal(&item, "a collect option")),
            }
        }
        Ok(collect)
    }

    fn lookup<'a>(&mut self, pair: &Pair<'a, Rule>, mut parts: Inner<'a>) -> Result<Lookup> {
        let var = self.ident(&next(&mut parts, pair, "a variable name")?);
        let source = self.ident(&next(&mut parts, pair, "a source")?);
        let key = self.expr(&next(&mut parts, pair, "a key")?)?;
        let mut lookup = Lookup {
            var,
            source,
            key,
            timeout: None,
            failures: Vec::new(),
        };
        let mut seen = Vec::new();
        for item in parts {
            self.note_repeat(&mut seen, &item, "lookup");
            let mut items = inner(&item);
            match item.as_rule() {
                Rule::timeout_option => {
                    lookup.timeout = Some(self.duration(&next(&mut items, &item, "a duration")?))
                }
                Rule::failure_arm => lookup.failures.push(self.failure_arm(&item)?),
                _ => return Err(internal(&item, "a lookup option")),
            }
        }
        Ok(lookup)
    }

    // ------------------------------------------------------------ expressions

    /// Builds an `expr` pair: an `if` expression, or operands and
    /// operators grouped by [`PRATT`].
    fn expr(&mut self, pair: &Pair<'_, Rule>) -> Result<Expr> {
        let parts: Vec<_> = inner(pair).collect();
        let first = parts.first().ok_or_else(|| missing(pair, "a value"))?;
        if first.as_rule() == Rule::if_expr {
            return self.if_expr(first);
        }
        let operators = parts.iter().filter(|p| is_operator(p.as_rule())).count();
        if operators > super::depth::MAX_OPERATORS {
            let span = self.span(pair);
            self.diagnostics
                .push(super::depth::too_many_operators(span, operators, self.file));
            self.aborted = true;
            return Err(missing(pair, "a shorter expression"));
        }
        let offset = self.offset;
        let span_of = move |p: &Pair<'_, Rule>| {
            let s = p.as_span();
            Span::new(offset + s.start(), offset + s.end())
        };
        PRATT
            .map_primary(|primary| self.primary(&primary))
            .map_prefix(|op, operand| {
                let operand = Box::new(operand?);
                let span = span_of(&op).to(operand.span);
                let kind = match op.as_rule() {
                    Rule::not_op => ExprKind::Not(operand),
                    _ => ExprKind::Neg(operand),
                };
                Ok(Expr { kind, span })
            })
            .map_postfix(|operand, op| {
                let operand = Box::new(operand?);
                let span = operand.span.to(span_of(&op));
                let kind = match op.as_rule() {
                    Rule::is_found => ExprKind::IsFound(operand),
                    Rule::is_missing => ExprKind::IsMissing(operand),
                    _ => {
                        let name = next(&mut inner(&op), &op, "a field")?;
                        let field = Ident {
                            name: name.as_str().to_string(),
                            span: span_of(&name),
                        };
                        ExprKind::Field(operand, field)
                    }
                };
                Ok(Expr { kind, span })
            })
            .map_infix(|left, op, right| Ok(binary(infix_op(&op), left?, right?)))
            .parse(parts.into_iter())
    }

    fn if_expr(&mut self, pair: &Pair<'_, Rule>) -> Result<Expr> {
        let mut parts = inner(pair);
        let condition = self.expr(&next(&mut parts, pair, "a condition")?)?;
        let then = self.expr(&next(&mut parts, pair, "a value")?)?;
        let otherwise = self.expr(&next(&mut parts, pair, "a value")?)?;
        let kind = ExprKind::If(Box::new(condition), Box::new(then), Box::new(otherwise));
        Ok(Expr {
            kind,
            span: self.span(pair),
        })
    }

    /// Builds an operand: a literal, a name, a call or a parenthesised
    /// expression.
    fn primary(&mut self, pair: &Pair<'_, Rule>) -> Result<Expr> {
        let span = self.span(pair);
        match pair.as_rule() {
            Rule::expr => self.expr(pair),
            Rule::call_expr => {
                let mut parts = inner(pair);
                let name = self.ident(&next(&mut parts, pair, "a function")?);
                let args = parts.map(|a| self.expr(&a)).collect::<Result<_>>()?;
                Ok(Expr {
                    kind: ExprKind::Call(name, args),
                    span,
                })
            }
            Rule::ident => Ok(Expr {
                kind: ExprKind::Name(self.ident(pair)),
                span,
            }),
            _ => self.literal(pair),
        }
    }

    fn literal(&mut self, pair: &Pair<'_, Rule>) -> Result<Expr> {
        let span = self.span(pair);
        let kind = match pair.as_rule() {
            Rule::boolean => ExprKind::Bool(pair.as_str() == "true"),
            Rule::integer => match pair.as_str().parse::<i64>() {
                Ok(value) => ExprKind::Int(value),
                Err(_) => {
                    self.invalid_literal(pair, "number too large", "use a whole number below 2^63");
                    ExprKind::Int(0)
                }
            },
            Rule::percent => {
                ExprKind::Percent(pair.as_str().trim_end_matches('%').parse().unwrap_or(0.0))
            }
            Rule::duration => ExprKind::Duration(self.duration(pair).millis),
            Rule::date => ExprKind::Date(self.date(pair)),
            Rule::time => ExprKind::Time(self.time(pair)),
            Rule::string => {
                let mut parts = Vec::new();
                for part in inner(pair) {
                    match part.as_rule() {
                        Rule::string_text => push_text(&mut parts, part.as_str()),
                        Rule::string_escape => {
                            push_text(&mut parts, &self.escape(&part).to_string())
                        }
                        _ => {
                            let value = next(&mut inner(&part), &part, "a value")?;
                            parts.push(TextPart::Expr(self.expr(&value)?));
                        }
                    }
                }
                ExprKind::Text(parts)
            }
            _ => return Err(internal(pair, "a value")),
        };
        Ok(Expr { kind, span })
    }
}

/// Returns the text without the white space and comments at its end. A
/// rule that ends in an optional part, such as `play "a"` before a `, "b"`
/// that is not there, has consumed the white space in front of the missing
/// part, and a span must not cover it.
fn without_trailing_trivia(mut text: &str) -> &str {
    // A comment runs to the end of its line, so trailing trivia always ends
    // in white space.
    while text.ends_with(char::is_whitespace) {
        text = text.trim_end();
        let line_start = text.rfind('\n').map_or(0, |i| i + 1);
        let Some(comment) = text.get(line_start..).and_then(comment_start) else {
            break;
        };
        match text.get(..line_start + comment) {
            Some(code) => text = code,
            None => break,
        }
    }
    text
}

/// Returns where a `//` comment starts in one line, outside quoted text and
/// the strings inside its interpolations.
fn comment_start(line: &str) -> Option<usize> {
    // Each entry is true for a quoted text and false for an interpolation.
    let mut nesting: Vec<bool> = Vec::new();
    let mut escaped = false;
    let mut previous_slash = false;
    for (i, c) in line.char_indices() {
        let in_text = nesting.last() == Some(&true);
        if in_text {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    nesting.pop();
                }
                (false, '{') => nesting.push(false),
                _ => {}
            }
            continue;
        }
        match c {
            '"' => nesting.push(true),
            '}' if !nesting.is_empty() => {
                nesting.pop();
            }
            '/' if previous_slash && nesting.is_empty() => return Some(i - 1),
            _ => {}
        }
        previous_slash = c == '/';
    }
    None
}

fn push_text(parts: &mut Vec<TextPart>, text: &str) {
    if let Some(TextPart::Literal(last)) = parts.last_mut() {
        last.push_str(text);
    } else {
        parts.push(TextPart::Literal(text.to_string()));
    }
}

fn binary(op: BinOp, left: Expr, right: Expr) -> Expr {
    let span = left.span.to(right.span);
    Expr {
        kind: ExprKind::Binary(op, Box::new(left), Box::new(right)),
        span,
    }
}

/// Operator precedence, loosest first: `or`, `and`, `not`, comparisons,
/// sums, products, unary minus, field access.
static PRATT: std::sync::LazyLock<PrattParser<Rule>> = std::sync::LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::or_op, Assoc::Left))
        .op(Op::infix(Rule::and_op, Assoc::Left))
        .op(Op::prefix(Rule::not_op))
        .op(Op::infix(Rule::compare_op, Assoc::Left)
            | Op::infix(Rule::starts_with, Assoc::Left)
            | Op::postfix(Rule::is_found)
            | Op::postfix(Rule::is_missing))
        .op(Op::infix(Rule::add_op, Assoc::Left))
        .op(Op::infix(Rule::mul_op, Assoc::Left))
        .op(Op::prefix(Rule::negate))
        .op(Op::postfix(Rule::field_access))
});

fn is_operator(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::or_op
            | Rule::and_op
            | Rule::compare_op
            | Rule::starts_with
            | Rule::add_op
            | Rule::mul_op
            | Rule::not_op
            | Rule::negate
            | Rule::field_access
            | Rule::is_found
            | Rule::is_missing
    )
}

fn infix_op(op: &Pair<'_, Rule>) -> BinOp {
    match op.as_rule() {
        Rule::or_op => BinOp::Or,
        Rule::and_op => BinOp::And,
        Rule::starts_with => BinOp::StartsWith,
        _ => bin_op(op.as_str()),
    }
}

fn bin_op(text: &str) -> BinOp {
    match text {
        "+" => BinOp::Add,
        "-" => BinOp::Sub,
        "*" => BinOp::Mul,
        "/" => BinOp::Div,
        "%" => BinOp::Rem,
        "==" => BinOp::Eq,
        "!=" => BinOp::Ne,
        "<" => BinOp::Lt,
        "<=" => BinOp::Le,
        ">" => BinOp::Gt,
        _ => BinOp::Ge,
    }
}

/// Returns the character an escape stands for, or `None` when the escape is
/// not one of the language's.
fn unescape(escape: &str) -> Option<char> {
    match escape.chars().nth(1)? {
        'n' => Some('\n'),
        't' => Some('\t'),
        c @ ('"' | '\\' | '{' | '}') => Some(c),
        _ => None,
    }
}

fn weekday(pair: &Pair<'_, Rule>) -> Result<Weekday> {
    Weekday::ALL
        .into_iter()
        .find(|d| d.as_str() == pair.as_str())
        .ok_or_else(|| internal(pair, "a weekday"))
}

fn strategy_from(pair: &Pair<'_, Rule>) -> Result<Strategy> {
    Ok(match pair.as_str() {
        "ring_all" => Strategy::RingAll,
        "longest_idle" => Strategy::LongestIdle,
        "least_busy" => Strategy::LeastBusy,
        "fewest_calls" => Strategy::FewestCalls,
        "round_robin" => Strategy::RoundRobin,
        "linear" => Strategy::Linear,
        "random" => Strategy::Random,
        _ => return Err(internal(pair, "a strategy")),
    })
}

/// Parses `1h30m`, `500ms`, `20s`; `None` when the total overflows 24 days.
pub fn parse_duration(text: &str) -> Option<u64> {
    const LIMIT: u64 = 24 * 24 * 3600 * 1000;
    let mut total: u64 = 0;
    let mut number: u64 = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(digit) = c.to_digit(10) {
            number = number.checked_mul(10)?.checked_add(u64::from(digit))?;
            continue;
        }
        let unit = match c {
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                1
            }
            'm' => 60_000,
            's' => 1_000,
            'h' => 3_600_000,
            _ => return None,
        };
        total = total.checked_add(number.checked_mul(unit)?)?;
        number = 0;
    }
    (total <= LIMIT).then_some(total)
}
