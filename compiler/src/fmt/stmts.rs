//! Statements, blocks and arms.
//!
//! A statement prints without its final line end, so that `} else {` and
//! `KEY => statement` can continue the line. The caller that starts the
//! statement's line also ends it.

use super::exprs::{ExprPrinter, string};
use super::lex::find_code_byte;
use super::options::{self, BlockSource, Item, Placed};
use super::printer::Printer;
use crate::diag::Diagnostic;
use crate::syntax::ast::{
    Block, Collect, Expr, IntLit, Lookup, MatchArm, Menu, Pattern, RecordMode, Stmt, StmtKind,
    StringLit, TicketMode,
};

/// Joins string literals with `, `.
pub(super) fn strings(list: &[StringLit]) -> String {
    list.iter().map(string).collect::<Vec<_>>().join(", ")
}

fn start(stmt: &Stmt) -> usize {
    stmt.span.start as usize
}

impl Printer<'_> {
    /// Returns a printer for expressions of this source.
    pub(super) fn exprs(&self) -> ExprPrinter<'_> {
        ExprPrinter::new(self.src)
    }

    /// Appends an expression to the current line.
    fn expr(&mut self, expr: &Expr) {
        let text = self.exprs().expr(expr);
        self.word(&text);
    }

    /// Returns where the code of a statement ends.
    fn stmt_end(&self, stmt: &Stmt) -> usize {
        self.code_end(stmt.span.end as usize)
    }

    /// Returns the offset of the closing brace that ends `stmt`.
    fn close_of(&self, stmt: &Stmt) -> usize {
        self.stmt_end(stmt).saturating_sub(1)
    }

    /// Prints a braced block; the line stays open after `}`.
    pub(super) fn block(&mut self, block: &Block) {
        let open = block.span.start as usize;
        let close = (block.span.end as usize).saturating_sub(1);
        self.braced(open, close, block.stmts.is_empty(), |p| {
            for stmt in &block.stmts {
                p.stmt_line(stmt);
            }
        });
    }

    /// Prints a statement on lines of its own.
    fn stmt_line(&mut self, stmt: &Stmt) {
        self.leading(start(stmt), self.header_end(stmt));
        self.stmt(stmt);
        self.end_line(self.stmt_end(stmt));
    }

    /// Returns the offset up to which comments are moved above the
    /// statement: its opening brace, or its end when it has no block.
    pub(super) fn header_end(&self, stmt: &Stmt) -> usize {
        let brace_after = |pos: usize| find_code_byte(self.src, pos, b'{').unwrap_or(start(stmt));
        match &stmt.kind {
            StmtKind::If { branches, .. } => branches
                .first()
                .map_or(self.stmt_end(stmt), |(_, block)| block.span.start as usize),
            StmtKind::Match(subject, _) => brace_after(subject.span.end as usize),
            StmtKind::Menu(_) => brace_after(start(stmt)),
            StmtKind::Collect(collect) => brace_after(collect.var.span.end as usize),
            StmtKind::Lookup(lookup) => brace_after(lookup.key.span.end as usize),
            StmtKind::Enqueue(_, Some(body)) => self.body_header_end(body),
            _ => self.stmt_end(stmt),
        }
    }

    fn body_header_end(&self, body: &Block) -> usize {
        match (body.braced, body.stmts.as_slice()) {
            (false, [stmt]) => self.header_end(stmt),
            _ => body.span.start as usize,
        }
    }

    /// Prints `HEAD => body` on lines of its own; the arm covers
    /// `start..end` in the source. `semicolon` ends a one-statement body
    /// that ends in an expression with `;`.
    fn arm(&mut self, start: usize, end: usize, head: &str, body: &Block, semicolon: bool) {
        self.leading(start, self.body_header_end(body));
        self.word(head);
        self.word(" => ");
        self.arm_body(body);
        if semicolon && ends_with_expr(body) {
            self.word(";");
        }
        self.end_line(end);
    }

    /// Prints a body after `=>` or `else`: a braced block, or one statement.
    fn arm_body(&mut self, body: &Block) {
        match (body.braced, body.stmts.as_slice()) {
            (false, [stmt]) => self.stmt(stmt),
            _ => self.block(body),
        }
    }

    /// Prints a statement without ending its last line.
    pub(super) fn stmt(&mut self, stmt: &Stmt) {
        match &stmt.kind {
            StmtKind::Menu(menu) => self.menu(stmt, menu),
            StmtKind::Collect(collect) => self.collect(stmt, collect),
            StmtKind::Lookup(lookup) => self.lookup(stmt, lookup),
            StmtKind::If {
                branches,
                otherwise,
            } => self.if_stmt(branches, otherwise.as_ref()),
            StmtKind::Match(subject, arms) => self.match_stmt(stmt, subject, arms),
            StmtKind::Enqueue(queue, otherwise) => {
                self.word(&format!("enqueue {}", queue.name));
                if let Some(body) = otherwise {
                    self.word(" else ");
                    self.arm_body(body);
                }
            }
            kind => {
                let text = self.simple_stmt(kind);
                self.word(&text);
            }
        }
    }

    /// Returns the text of a statement that fits on one line.
    fn simple_stmt(&self, kind: &StmtKind) -> String {
        let exprs = self.exprs();
        match kind {
            StmtKind::Play(prompts) => format!("play {}", strings(prompts)),
            StmtKind::Let(name, value) => format!("let {} = {}", name.name, exprs.expr(value)),
            StmtKind::Set(name, value) => format!("set {} = {}", name.name, exprs.expr(value)),
            StmtKind::Goto(step) => format!("goto {}", step.name),
            StmtKind::Run(subflow) => format!("run {}", subflow.name),
            StmtKind::Return => "return".to_string(),
            StmtKind::Transfer(target) => format!("transfer {}", exprs.expr(target)),
            StmtKind::Voicemail(mailbox) => format!("voicemail {}", string(mailbox)),
            StmtKind::Hangup => "hangup".to_string(),
            StmtKind::Record(mode) => format!("record {}", record_mode(*mode)),
            StmtKind::Tag(tags) => {
                let tags: Vec<_> = tags.iter().map(|t| exprs.expr(t)).collect();
                format!("tag {}", tags.join(", "))
            }
            StmtKind::Timeline(entry) => format!("timeline {}", exprs.expr(entry)),
            StmtKind::Ticket(mode, subject) => {
                let mut text = format!("ticket {}", ticket_mode(*mode));
                if let Some(subject) = subject {
                    text.push(' ');
                    text.push_str(&exprs.expr(subject));
                }
                text
            }
            StmtKind::Survey(question, thanks) => match thanks {
                Some(thanks) => format!("survey {}, {}", string(question), string(thanks)),
                None => format!("survey {}", string(question)),
            },
            StmtKind::Webhook(hook) => format!("webhook {}", hook.name),
            StmtKind::Notify(hook, message) => {
                format!("notify {} {}", hook.name, exprs.expr(message))
            }
            // Statements with blocks are printed by `stmt`.
            StmtKind::Menu(_)
            | StmtKind::Collect(_)
            | StmtKind::Lookup(_)
            | StmtKind::If { .. }
            | StmtKind::Match(..)
            | StmtKind::Enqueue(..) => String::new(),
        }
    }

    fn if_stmt(&mut self, branches: &[(Expr, Block)], otherwise: Option<&Block>) {
        for (index, (condition, block)) in branches.iter().enumerate() {
            self.word(if index == 0 { "if " } else { " else if " });
            self.expr(condition);
            self.word(" ");
            self.block(block);
        }
        if let Some(block) = otherwise {
            self.word(" else ");
            self.block(block);
        }
    }

    fn match_stmt(&mut self, stmt: &Stmt, subject: &Expr, arms: &[MatchArm]) {
        self.word("match ");
        self.expr(subject);
        self.word(" ");
        let open = self.header_end(stmt);
        self.braced(open, self.close_of(stmt), arms.is_empty(), |p| {
            for (index, arm) in arms.iter().enumerate() {
                let head = pattern(&arm.pattern);
                let end = p.code_end(arm.span.end as usize);
                let next = arms.get(index + 1).map(|next| &next.pattern);
                let semicolon = matches!(next, Some(Pattern::StartsWith(_)));
                p.arm(arm.span.start as usize, end, &head, &arm.body, semicolon);
            }
        });
    }

    fn block_source(&self, stmt: &Stmt) -> BlockSource<'_> {
        BlockSource {
            src: self.src,
            open: self.header_end(stmt),
            close: self.close_of(stmt),
            file: self.file,
        }
    }

    fn menu(&mut self, stmt: &Stmt, menu: &Menu) {
        self.word("menu ");
        let items = options::menu(menu, &self.block_source(stmt));
        self.option_block(stmt, items);
    }

    fn collect(&mut self, stmt: &Stmt, collect: &Collect) {
        self.word(&format!("collect {} ", collect.var.name));
        let items = options::collect(collect, &self.block_source(stmt));
        self.option_block(stmt, items);
    }

    fn lookup(&mut self, stmt: &Stmt, lookup: &Lookup) {
        let key = self.exprs().expr(&lookup.key);
        self.word(&format!(
            "lookup {} in {} by {key} ",
            lookup.var.name, lookup.source.name
        ));
        let items = options::lookup(lookup, &self.block_source(stmt));
        self.option_block(stmt, items);
    }

    /// Prints the items of a menu, collect or lookup, or records why they
    /// cannot be printed without loss.
    fn option_block(&mut self, stmt: &Stmt, items: Result<Vec<Placed<'_>>, Diagnostic>) {
        let items = items.unwrap_or_else(|error| {
            self.errors.push(error);
            Vec::new()
        });
        let open = self.header_end(stmt);
        self.braced(open, self.close_of(stmt), items.is_empty(), |p| {
            for placed in &items {
                p.item_line(placed);
            }
        });
    }

    fn item_line(&mut self, placed: &Placed<'_>) {
        let (start, end) = (placed.start, self.code_end(placed.end));
        match placed.item {
            Item::Key(key, body) => self.arm(start, end, &key.key.to_string(), body, false),
            Item::Failure(arm) => self.arm(start, end, arm.kind.as_str(), &arm.body, false),
            item => {
                self.leading(start, end);
                let text = self.option_text(item);
                self.word(&text);
                self.end_line(end);
            }
        }
    }

    fn option_text(&self, item: Item<'_>) -> String {
        let exprs = self.exprs();
        let int = |lit: &IntLit| {
            let text = self.source(lit.span.range());
            if text.is_empty() {
                lit.value.to_string()
            } else {
                text.to_string()
            }
        };
        match item {
            Item::Prompt(prompts) => format!("prompt {}", strings(prompts)),
            Item::Timeout(wait) => format!("timeout {}", exprs.duration(wait)),
            Item::Attempts(count) => format!("attempts {}", int(count)),
            Item::Length(min, max) if min.span == max.span => format!("length {}", int(min)),
            Item::Length(min, max) => format!("length {}..{}", int(min), int(max)),
            Item::Terminator(key) => format!("terminator {}", key.key),
            Item::Interdigit(wait) => format!("interdigit {}", exprs.duration(wait)),
            Item::Valid(condition) => format!("valid if {}", exprs.expr(condition)),
            Item::Sensitive => "sensitive".to_string(),
            Item::Key(..) | Item::Failure(_) => String::new(),
        }
    }
}

/// True when a body is one statement without braces whose last part is an
/// expression. Before a `starts with` arm such a body needs a `;`, or the
/// next pattern would read as `EXPR starts with "..."`.
fn ends_with_expr(body: &Block) -> bool {
    let [stmt] = body.stmts.as_slice() else {
        return false;
    };
    if body.braced {
        return false;
    }
    match &stmt.kind {
        StmtKind::Let(..)
        | StmtKind::Set(..)
        | StmtKind::Transfer(_)
        | StmtKind::Tag(_)
        | StmtKind::Timeline(_)
        | StmtKind::Notify(..)
        | StmtKind::Ticket(_, Some(_)) => true,
        StmtKind::Enqueue(_, Some(otherwise)) => ends_with_expr(otherwise),
        _ => false,
    }
}

fn pattern(pattern: &Pattern) -> String {
    match pattern {
        Pattern::Exact(values) => strings(values),
        Pattern::StartsWith(prefix) => format!("starts with {}", string(prefix)),
        Pattern::Else(_) => "else".to_string(),
    }
}

fn record_mode(mode: RecordMode) -> &'static str {
    match mode {
        RecordMode::On => "on",
        RecordMode::Off => "off",
        RecordMode::Pause => "pause",
        RecordMode::Resume => "resume",
    }
}

fn ticket_mode(mode: TicketMode) -> &'static str {
    match mode {
        TicketMode::Link => "link",
        TicketMode::Create => "create",
        TicketMode::LinkOrCreate => "link or create",
    }
}
