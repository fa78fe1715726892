//! Expressions: name resolution, types, and narrowing of contacts that a
//! condition shows to be found.

use super::builtins::{self, Function};
use super::names::{Env, Place};
use super::scope::{Bits, State, TypeSlot, VarId, Vars};
use super::types::{self, Type};
use crate::diag::{Code, Diagnostic, FileId, Span, did_you_mean, unknown_name_help};
use crate::syntax::ast::{BinOp, Expr, ExprKind, Ident, TextPart};

/// Contacts a condition shows to be found when it is true and when it is
/// false.
#[derive(Debug, Default)]
pub struct Facts {
    /// Found when the condition is true.
    pub when_true: Vec<VarId>,
    /// Found when the condition is false.
    pub when_false: Vec<VarId>,
}

/// Checks expressions of one place in a flow.
pub struct ExprCx<'c, 'a> {
    /// The project.
    pub env: &'c Env<'a>,
    /// Variables in scope.
    pub vars: &'c Vars<'a>,
    /// The file the expressions are in.
    pub file: FileId,
    /// The part of a flow the expressions are in.
    pub place: Place,
    /// The facts before the expression. It is `None` where the flow's
    /// variables are not known, in a queue that no flow enters, so unknown
    /// names and unset variables are not reported there.
    pub state: Option<&'c State>,
    /// The sink for diagnostics, or `None` to work out types silently.
    pub out: Option<&'c mut Vec<Diagnostic>>,
    /// Variables already reported as unset in this expression, so that
    /// `c is found and c.vip` reports `c` once.
    pub unset_reported: Vec<VarId>,
}

/// Returns the text of a literal without interpolation.
pub fn plain_literal(expr: &Expr) -> Option<&str> {
    match &expr.kind {
        ExprKind::Text(parts) => match parts.as_slice() {
            [] => Some(""),
            [TextPart::Literal(text)] => Some(text),
            _ => None,
        },
        _ => None,
    }
}

/// True when a text holds only keys a caller can press.
pub fn is_key_text(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
}

/// Returns "a bool", "an integer", "text" and so on.
pub fn with_article(ty: Type) -> String {
    match ty {
        Type::Text | Type::Digits => ty.name().to_string(),
        Type::Integer => String::from("an integer"),
        _ => format!("a {}", ty.name()),
    }
}

/// Returns the variable an expression names, if it names one.
pub fn contact_var(vars: &Vars<'_>, expr: &Expr) -> Option<VarId> {
    match &expr.kind {
        ExprKind::Name(ident) => vars.get(&ident.name),
        _ => None,
    }
}

/// Returns the contacts a condition shows to be found when it is true and
/// when it is false.
pub fn facts(vars: &Vars<'_>, expr: &Expr) -> Facts {
    match &expr.kind {
        ExprKind::IsFound(x) => Facts {
            when_true: contact_var(vars, x).into_iter().collect(),
            when_false: Vec::new(),
        },
        ExprKind::IsMissing(x) => Facts {
            when_true: Vec::new(),
            when_false: contact_var(vars, x).into_iter().collect(),
        },
        ExprKind::Not(x) => {
            let inner = facts(vars, x);
            Facts {
                when_true: inner.when_false,
                when_false: inner.when_true,
            }
        }
        ExprKind::Binary(BinOp::And, a, b) => {
            let (a, b) = (facts(vars, a), facts(vars, b));
            Facts {
                when_true: union(&a.when_true, &b.when_true),
                when_false: intersection(&a.when_false, &b.when_false),
            }
        }
        ExprKind::Binary(BinOp::Or, a, b) => {
            let (a, b) = (facts(vars, a), facts(vars, b));
            Facts {
                when_true: intersection(&a.when_true, &b.when_true),
                when_false: union(&a.when_false, &b.when_false),
            }
        }
        _ => Facts::default(),
    }
}

fn with_ids(found: &Bits, ids: &[VarId]) -> Bits {
    let mut bits = found.clone();
    for &id in ids {
        bits.insert(id);
    }
    bits
}

fn union(a: &[VarId], b: &[VarId]) -> Vec<VarId> {
    let mut all = a.to_vec();
    all.extend(b.iter().filter(|id| !a.contains(id)));
    all
}

fn intersection(a: &[VarId], b: &[VarId]) -> Vec<VarId> {
    a.iter().copied().filter(|id| b.contains(id)).collect()
}

impl<'c, 'a> ExprCx<'c, 'a> {
    fn emitting(&self) -> bool {
        self.out.is_some()
    }

    fn report(&mut self, diagnostic: Diagnostic) {
        if let Some(out) = self.out.as_deref_mut() {
            out.push(diagnostic);
        }
    }

    fn snippet(&self, span: Span) -> String {
        self.env.snippet(self.file, span)
    }

    /// Returns the type of a variable, working out the type of a `let` on
    /// first use.
    pub fn var_type(&self, id: VarId) -> Type {
        let Some(var) = self.vars.var(id) else {
            return Type::Unknown;
        };
        match var.ty.get() {
            TypeSlot::Known(ty) => ty,
            TypeSlot::Resolving => Type::Unknown,
            TypeSlot::Pending(expr) => {
                var.ty.set(TypeSlot::Resolving);
                let mut silent = ExprCx {
                    env: self.env,
                    vars: self.vars,
                    file: self.vars.file,
                    place: self.place,
                    state: None,
                    out: None,
                    unset_reported: Vec::new(),
                };
                let ty = silent.check(expr, &Bits::empty(0));
                var.ty.set(TypeSlot::Known(ty));
                ty
            }
        }
    }

    /// Returns the contacts a condition shows to be found.
    pub fn facts(&self, expr: &Expr) -> Facts {
        facts(self.vars, expr)
    }

    /// Checks an expression whose value must have type `want`; `role` names
    /// what needs it, as in "the condition of `if`".
    pub fn expect(&mut self, expr: &Expr, found: &Bits, want: Type, role: &str) -> Type {
        let actual = self.check(expr, found);
        self.require(expr, actual, want, role);
        actual
    }

    /// Reports a value of the wrong type; returns true when it fits. A text
    /// literal of keys fits where digits are needed, and a text literal
    /// naming a declared language fits where a language is needed.
    pub fn require(&mut self, expr: &Expr, actual: Type, want: Type, role: &str) -> bool {
        if actual == want || actual == Type::Unknown || want == Type::Unknown {
            return true;
        }
        if actual == Type::Text
            && let Some(text) = plain_literal(expr)
        {
            if want == Type::Digits && is_key_text(text) {
                return true;
            }
            if want == Type::Language {
                self.check_language(text, expr.span);
                return true;
            }
        }
        if self.emitting() {
            let diagnostic = self.mismatch(expr, actual, want, role);
            self.report(diagnostic);
        }
        false
    }

    fn mismatch(&self, expr: &Expr, actual: Type, want: Type, role: &str) -> Diagnostic {
        let snippet = self.snippet(expr.span);
        let help = match want {
            Type::Bool if actual == Type::Contact => format!("test it with `{snippet} is found`"),
            Type::Bool => format!("compare it to get a bool, such as `{snippet} == ...`"),
            Type::Text => format!("put it inside a text: `\"{{{snippet}}}\"`"),
            Type::Integer => String::from("give a whole number here, such as `100`"),
            Type::Digits => {
                String::from("give digits here, such as a `collect` variable or `\"1234\"`")
            }
            Type::Language => {
                String::from("name a language declared in tok.yaml, such as `\"en\"`")
            }
            _ => format!("give {} here", with_article(want)),
        };
        Diagnostic::new(
            Code::TypeMismatch,
            format!(
                "{role} needs {}, but `{snippet}` is {}",
                with_article(want),
                with_article(actual)
            ),
        )
        .primary(
            self.file,
            expr.span,
            format!("this is {}", with_article(actual)),
        )
        .help(help)
    }

    /// Reports a language literal that `tok.yaml` does not declare.
    pub fn check_language(&mut self, language: &str, span: Span) {
        let languages = &self.env.config.languages;
        if !self.emitting()
            || !self.env.trust.languages()
            || languages.iter().any(|l| l == language)
        {
            return;
        }
        let diagnostic = Diagnostic::new(
            Code::UnknownLanguage,
            format!("unknown language `{language}`"),
        )
        .primary(
            self.file,
            span,
            "not declared under `languages` in tok.yaml",
        )
        .help(unknown_name_help(
            "language",
            language,
            languages.iter().map(String::as_str),
        ));
        self.report(diagnostic);
    }

    /// Checks an expression and returns its type.
    pub fn check(&mut self, expr: &Expr, found: &Bits) -> Type {
        match &expr.kind {
            ExprKind::Bool(_) => Type::Bool,
            ExprKind::Int(_) => Type::Integer,
            ExprKind::Duration(_) => Type::Duration,
            ExprKind::Percent(_) => {
                if self.emitting() {
                    let diagnostic = Diagnostic::new(
                        Code::TypeMismatch,
                        format!(
                            "`{}` is a percentage, which is not a value",
                            self.snippet(expr.span)
                        ),
                    )
                    .primary(
                        self.file,
                        expr.span,
                        "percentages are written only in `target`",
                    )
                    .help("use a whole number instead, such as `80`");
                    self.report(diagnostic);
                }
                Type::Unknown
            }
            // `schedule::expressions` reports impossible dates and times.
            ExprKind::Date(_) => Type::Date,
            ExprKind::Time(_) => Type::Time,
            ExprKind::Text(parts) => {
                for part in parts {
                    if let TextPart::Expr(inner) = part {
                        self.check(inner, found);
                    }
                }
                Type::Text
            }
            ExprKind::Name(ident) => self.name(ident),
            ExprKind::Field(base, field) => self.field(expr, base, field, found),
            ExprKind::Call(name, args) => self.call(expr, name, args, found),
            ExprKind::Not(inner) => {
                self.expect(inner, found, Type::Bool, "`not`");
                Type::Bool
            }
            ExprKind::Neg(inner) => self.negate(inner, found),
            ExprKind::Binary(op, left, right) => self.binary(expr, *op, left, right, found),
            ExprKind::IsFound(inner) | ExprKind::IsMissing(inner) => {
                let ty = self.check(inner, found);
                let test = if matches!(expr.kind, ExprKind::IsFound(_)) {
                    "`is found`"
                } else {
                    "`is missing`"
                };
                if ty != Type::Contact && ty != Type::Unknown && self.emitting() {
                    let diagnostic = self
                        .mismatch(inner, ty, Type::Contact, test)
                        .help(format!("{test} tests the result of a `lookup`"));
                    self.report(diagnostic);
                }
                Type::Bool
            }
            ExprKind::If(condition, then, otherwise) => {
                self.if_expr(condition, then, otherwise, found)
            }
        }
    }

    /// Records a read of a variable and reports it when it may be unset.
    fn read_var(&mut self, id: VarId, span: Span) {
        if !self.emitting() {
            return;
        }
        let Some(var) = self.vars.var(id) else {
            return;
        };
        var.used.set(true);
        let Some(state) = self.state else {
            return;
        };
        if state.set.contains(id) || self.unset_reported.contains(&id) {
            return;
        }
        self.unset_reported.push(id);

        let creation = match var.origin {
            super::scope::Origin::Let => format!("let {}", var.name),
            super::scope::Origin::Collect => format!("collect {}", var.name),
            super::scope::Origin::Lookup => format!("lookup {}", var.name),
        };
        let diagnostic = Diagnostic::new(
            Code::UnsetVariable,
            format!("variable `{}` may be used before it is set", var.name),
        )
        .primary(self.file, span, "not set on every path to here")
        .secondary(self.vars.file, var.span, "set only here")
        .help(format!(
            "make every path to this point pass `{creation}` first, or set `{}` on the paths that skip it",
            var.name
        ));
        self.report(diagnostic);
    }

    fn name(&mut self, ident: &Ident) -> Type {
        let name = ident.name.as_str();
        if let Some(id) = self.vars.get(name) {
            self.read_var(id, ident.span);
            return self.var_type(id);
        }
        if name == builtins::LANGUAGE {
            return Type::Language;
        }
        if !self.emitting() || self.vars.maybe.contains(name) {
            return Type::Unknown;
        }
        let index = &self.env.index;
        let diagnostic = if name == builtins::CALL {
            Diagnostic::new(Code::UnknownVariable, "`call` is not a value by itself")
                .primary(self.file, ident.span, "needs a field")
                .help("use one of its fields, such as `call.from`")
        } else if let Some(schedule) = index.schedules.get(name) {
            schedule.used.set(true);
            Diagnostic::new(
                Code::TypeMismatch,
                format!("`{name}` is a schedule, not a value"),
            )
            .primary(self.file, ident.span, "a schedule")
            .help(format!("test whether it is open with `open({name})`"))
        } else if index.queues.get(name).is_some() {
            Diagnostic::new(
                Code::TypeMismatch,
                format!("`{name}` is a queue, not a value"),
            )
            .primary(self.file, ident.span, "a queue")
            .help(format!("send the call there with `enqueue {name}`"))
        } else if self.state.is_none() {
            return Type::Unknown;
        } else {
            let candidates = self.vars.names().chain(builtins::RESERVED_NAMES);
            Diagnostic::new(Code::UnknownVariable, format!("unknown name `{name}`"))
                .primary(self.file, ident.span, "no variable of this name")
                .help(unknown_name_help("variable", name, candidates))
        };
        self.report(diagnostic);
        Type::Unknown
    }

    fn field(&mut self, expr: &Expr, base: &Expr, field: &Ident, found: &Bits) -> Type {
        if let ExprKind::Name(ident) = &base.kind
            && ident.name == builtins::CALL
        {
            return self.call_field(field);
        }
        let base_ty = self.check(base, found);
        match base_ty {
            Type::Unknown => Type::Unknown,
            Type::Contact => {
                let narrowed = contact_var(self.vars, base).is_some_and(|id| found.contains(id));
                if !narrowed && self.state.is_some() && self.emitting() {
                    let diagnostic = self.unchecked_contact(expr, base);
                    self.report(diagnostic);
                }
                self.contact_field(base, field)
            }
            other => {
                if self.emitting() {
                    let diagnostic = Diagnostic::new(
                        Code::UnknownField,
                        format!(
                            "unknown field `{}`: `{}` is {}, which has no fields",
                            field.name,
                            self.snippet(base.span),
                            with_article(other)
                        ),
                    )
                    .primary(self.file, field.span, "no such field")
                    .help("only contacts and `call` have fields");
                    self.report(diagnostic);
                }
                Type::Unknown
            }
        }
    }

    fn unchecked_contact(&self, expr: &Expr, base: &Expr) -> Diagnostic {
        let contact = self.snippet(base.span);
        Diagnostic::new(
            Code::OptionalUnchecked,
            format!(
                "`{}` is read where `{contact}` may be missing",
                self.snippet(expr.span)
            ),
        )
        .primary(
            self.file,
            expr.span,
            format!("`{contact}` may be missing here"),
        )
        .help(format!(
            "check it first: `if {contact} is found {{ ... }}`, or `{contact} is found and {}`",
            self.snippet(expr.span)
        ))
    }

    fn call_field(&mut self, field: &Ident) -> Type {
        match builtins::call_field(&field.name) {
            Some(known) => {
                if known.after_call_only && self.place != Place::AfterCall && self.emitting() {
                    let diagnostic = Diagnostic::new(
                        Code::UnknownField,
                        format!("`call.{}` is known only in `after call`", field.name),
                    )
                    .primary(self.file, field.span, "not known while the call runs")
                    .help(format!(
                        "read `call.{}` in `after call`, once the call has ended",
                        field.name
                    ));
                    self.report(diagnostic);
                }
                known.ty
            }
            None => {
                if self.emitting() {
                    let names = builtins::CALL_FIELDS.iter().map(|f| f.name);
                    let diagnostic = Diagnostic::new(
                        Code::UnknownField,
                        format!("unknown field `call.{}`", field.name),
                    )
                    .primary(self.file, field.span, "`call` has no such field")
                    .help(unknown_name_help(
                        "field of `call`",
                        &field.name,
                        names,
                    ));
                    self.report(diagnostic);
                }
                Type::Unknown
            }
        }
    }

    fn contact_field(&mut self, base: &Expr, field: &Ident) -> Type {
        if let Some(ty) = self.env.contact_field(&field.name) {
            return ty;
        }
        if self.emitting() && self.env.trust.missing_field(self.env.config, &field.name) {
            let diagnostic = Diagnostic::new(
                Code::UnknownField,
                format!(
                    "unknown field `{}` on contact `{}`",
                    field.name,
                    self.snippet(base.span)
                ),
            )
            .primary(self.file, field.span, "contacts have no such field")
            .help(
                match did_you_mean(&field.name, self.env.contact_field_names()) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!(
                        "{}; custom fields are declared under `crm.fields` in tok.yaml",
                        unknown_name_help(
                            "contact field",
                            &field.name,
                            self.env.contact_field_names()
                        )
                    ),
                },
            );
            self.report(diagnostic);
        }
        Type::Unknown
    }

    fn call(&mut self, expr: &Expr, name: &Ident, args: &[Expr], found: &Bits) -> Type {
        let Some(function) = Function::by_name(&name.name) else {
            if self.emitting() {
                let diagnostic = Diagnostic::new(
                    Code::UnknownFunction,
                    format!("unknown function `{}`", name.name),
                )
                .primary(self.file, name.span, "no function of this name")
                .help(match did_you_mean(&name.name, builtins::FUNCTION_NAMES) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => String::from(
                        "the functions are `open`, `holiday`, `today` and `now`, which take a schedule, and `length`",
                    ),
                });
                self.report(diagnostic);
            }
            self.loose_args(args, found);
            return Type::Unknown;
        };
        let usage = if function.takes_schedule() {
            format!("{}(SCHEDULE)", name.name)
        } else {
            format!("{}(TEXT)", name.name)
        };
        let [arg] = args else {
            if self.emitting() {
                let diagnostic = Diagnostic::new(
                    Code::WrongArguments,
                    format!(
                        "`{}` takes 1 argument, but {} {} given",
                        name.name,
                        args.len(),
                        if args.len() == 1 { "was" } else { "were" }
                    ),
                )
                .primary(self.file, expr.span, format!("{} arguments", args.len()))
                .help(format!("write `{usage}`"));
                self.report(diagnostic);
            }
            self.loose_args(args, found);
            return function.result();
        };
        if function.takes_schedule() {
            self.schedule_arg(&name.name, arg, found);
        } else {
            let ty = self.check(arg, found);
            if !ty.is_textual() && ty != Type::Unknown && self.emitting() {
                let diagnostic = self
                    .mismatch(arg, ty, Type::Text, "`length`")
                    .help("`length` counts the characters of text or digits");
                self.report(diagnostic);
            }
        }
        function.result()
    }

    /// Checks the arguments of a call that does not fit a function. A
    /// schedule's name counts as a use of the schedule, not as a value.
    fn loose_args(&mut self, args: &[Expr], found: &Bits) {
        for arg in args {
            if let ExprKind::Name(ident) = &arg.kind
                && self.vars.get(&ident.name).is_none()
                && let Some(schedule) = self.env.index.schedules.get(&ident.name)
            {
                schedule.used.set(true);
                continue;
            }
            self.check(arg, found);
        }
    }

    fn schedule_arg(&mut self, function: &str, arg: &Expr, found: &Bits) {
        let ExprKind::Name(ident) = &arg.kind else {
            let ty = self.check(arg, found);
            if self.emitting() {
                let diagnostic = Diagnostic::new(
                    Code::TypeMismatch,
                    format!(
                        "`{function}` needs a schedule name, but `{}` is {}",
                        self.snippet(arg.span),
                        with_article(ty)
                    ),
                )
                .primary(self.file, arg.span, "not a schedule")
                .help(format!(
                    "write the name of an `hours` declaration: `{function}(office)`"
                ));
                self.report(diagnostic);
            }
            return;
        };
        let schedules = &self.env.index.schedules;
        if let Some(schedule) = schedules.get(&ident.name) {
            schedule.used.set(true);
            return;
        }
        if schedules.is_broken(&ident.name) || !self.emitting() {
            return;
        }
        schedules.guess(&ident.name);
        let other_kind = if self.vars.get(&ident.name).is_some() {
            Some("a variable")
        } else if self.env.index.queues.get(&ident.name).is_some() {
            Some("a queue")
        } else {
            None
        };
        let (message, help) = match other_kind {
            Some(kind) => {
                let mut known: Vec<&str> = schedules.names().collect();
                known.sort_unstable();
                let help = match known.as_slice() {
                    [] => format!(
                        "`{function}` takes a schedule declared with `hours NAME in \"ZONE\" {{ ... }}`"
                    ),
                    [first, ..] => format!(
                        "`{function}` takes a schedule declared with `hours`, such as `{function}({first})`"
                    ),
                };
                (
                    format!(
                        "`{}` is {kind}, but `{function}` needs a schedule",
                        ident.name
                    ),
                    help,
                )
            }
            None => (
                format!("unknown schedule `{}`", ident.name),
                unknown_name_help("schedule", &ident.name, schedules.names()),
            ),
        };
        let diagnostic = Diagnostic::new(Code::UnknownSchedule, message)
            .primary(self.file, ident.span, "no schedule of this name")
            .help(help);
        self.report(diagnostic);
    }

    fn negate(&mut self, inner: &Expr, found: &Bits) -> Type {
        let ty = self.check(inner, found);
        match ty {
            Type::Integer | Type::Duration | Type::Unknown => ty,
            other => {
                if self.emitting() {
                    let diagnostic = self
                        .mismatch(inner, other, Type::Integer, "`-`")
                        .help("only integers and durations can be negative");
                    self.report(diagnostic);
                }
                Type::Unknown
            }
        }
    }

    fn binary(&mut self, expr: &Expr, op: BinOp, left: &Expr, right: &Expr, found: &Bits) -> Type {
        match op {
            BinOp::And | BinOp::Or => {
                let role = format!("`{}`", op.as_str());
                self.expect(left, found, Type::Bool, &role);
                let facts = self.facts(left);
                let known = if op == BinOp::And {
                    facts.when_true
                } else {
                    facts.when_false
                };
                let right_found = with_ids(found, &known);
                self.expect(right, &right_found, Type::Bool, &role);
                Type::Bool
            }
            BinOp::Eq | BinOp::Ne => {
                let (a, b) = (self.check(left, found), self.check(right, found));
                self.equality(expr, op, (left, a), (right, b));
                Type::Bool
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let (a, b) = (self.check(left, found), self.check(right, found));
                self.ordering(expr, op, (left, a), (right, b));
                Type::Bool
            }
            BinOp::StartsWith => {
                let (a, b) = (self.check(left, found), self.check(right, found));
                for (side, ty) in [(left, a), (right, b)] {
                    if !ty.is_textual() && ty != Type::Unknown && self.emitting() {
                        let diagnostic = self
                            .mismatch(side, ty, Type::Text, "`starts with`")
                            .help("`starts with` compares text or digits, such as `order starts with \"4\"`");
                        self.report(diagnostic);
                    }
                }
                Type::Bool
            }
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
                let (a, b) = (self.check(left, found), self.check(right, found));
                self.arithmetic(expr, op, (left, a), (right, b))
            }
        }
    }

    fn operand_mismatch(
        &self,
        expr: &Expr,
        message: String,
        (left, a): (&Expr, Type),
        (right, b): (&Expr, Type),
        help: String,
    ) -> Diagnostic {
        // The primary label marks the operator alone: miette draws labels
        // that nest inside another label at the wrong columns.
        let between = Span {
            start: left.span.end,
            end: right.span.start.max(left.span.end),
        };
        let gap = self.snippet(between);
        let leading = gap.len() - gap.trim_start().len();
        let operator = Span::new(
            between.start as usize + leading,
            between.start as usize + gap.trim_end().len(),
        );
        let operator = if operator.start < operator.end {
            operator
        } else {
            expr.span
        };
        Diagnostic::new(Code::TypeMismatch, message)
            .primary(self.file, operator, "types do not fit")
            .secondary(self.file, left.span, format!("this is {}", with_article(a)))
            .secondary(
                self.file,
                right.span,
                format!("this is {}", with_article(b)),
            )
            .help(help)
    }

    fn equality(&mut self, expr: &Expr, op: BinOp, left: (&Expr, Type), right: (&Expr, Type)) {
        let (a, b) = (left.1, right.1);
        if a == Type::Unknown || b == Type::Unknown {
            return;
        }
        if types::equatable(a, b) {
            self.digits_against_text(expr, op, left, right);
            return;
        }
        for ((_, side_ty), (other, other_ty)) in [(left, right), (right, left)] {
            if side_ty == Type::Language
                && other_ty == Type::Text
                && let Some(text) = plain_literal(other)
            {
                self.check_language(text, other.span);
                return;
            }
        }
        if !self.emitting() {
            return;
        }
        let help = if a == Type::Contact || b == Type::Contact {
            String::from(
                "test a contact with `is found` or `is missing`, or compare one of its fields",
            )
        } else if let (Some(int_side), true) = (
            [left, right]
                .into_iter()
                .find(|(e, t)| *t == Type::Integer && matches!(e.kind, ExprKind::Int(_))),
            a.is_textual() || b.is_textual(),
        ) {
            format!(
                "digits and text compare only with text; write the number in quotes: `\"{}\"`",
                self.snippet(int_side.0.span)
            )
        } else {
            format!("both sides of `{}` must have one type", op.as_str())
        };
        let message = format!(
            "cannot compare {} with {}: `{}`",
            with_article(a),
            with_article(b),
            self.snippet(expr.span)
        );
        let diagnostic = self.operand_mismatch(expr, message, left, right, help);
        self.report(diagnostic);
    }

    /// Reports digits compared with a text literal that contains characters no
    /// caller can press: the comparison always has the same result.
    fn digits_against_text(
        &mut self,
        expr: &Expr,
        op: BinOp,
        left: (&Expr, Type),
        right: (&Expr, Type),
    ) {
        for ((digits, digits_ty), (other, _)) in [(left, right), (right, left)] {
            let Some(text) = plain_literal(other) else {
                continue;
            };
            if digits_ty != Type::Digits || is_key_text(text) || !self.emitting() {
                continue;
            }
            let result = if op == BinOp::Ne { "true" } else { "false" };
            let diagnostic = Diagnostic::new(
                Code::TypeMismatch,
                format!(
                    "`{}` is always {result}: digits never equal \"{text}\"",
                    self.snippet(expr.span)
                ),
            )
            .primary(self.file, other.span, "not digits")
            .secondary(self.file, digits.span, "this is digits")
            .help("digits hold only the keys 0-9, * and #; compare with such text, such as `\"1234\"`");
            self.report(diagnostic);
            return;
        }
    }

    fn ordering(&mut self, expr: &Expr, op: BinOp, left: (&Expr, Type), right: (&Expr, Type)) {
        let (a, b) = (left.1, right.1);
        if a == Type::Unknown || b == Type::Unknown || (a == b && a.is_ordered()) {
            return;
        }
        if !self.emitting() {
            return;
        }
        let help = if a.is_textual() || b.is_textual() {
            String::from(
                "text and digits are not ordered; use `==`, `starts with`, or compare `length(...)`",
            )
        } else {
            format!(
                "`{}` compares two integers, durations, dates or times of one type",
                op.as_str()
            )
        };
        let message = format!(
            "cannot order {} and {} with `{}`: `{}`",
            with_article(a),
            with_article(b),
            op.as_str(),
            self.snippet(expr.span)
        );
        let diagnostic = self.operand_mismatch(expr, message, left, right, help);
        self.report(diagnostic);
    }

    fn arithmetic(
        &mut self,
        expr: &Expr,
        op: BinOp,
        left: (&Expr, Type),
        right: (&Expr, Type),
    ) -> Type {
        let (a, b) = (left.1, right.1);
        if a == Type::Unknown || b == Type::Unknown {
            let textual = op == BinOp::Add && (a.is_textual() || b.is_textual());
            return if textual { Type::Text } else { Type::Unknown };
        }
        if let Some(ty) = types::arithmetic(op, a, b) {
            if matches!(op, BinOp::Div | BinOp::Rem)
                && matches!(right.0.kind, ExprKind::Int(0))
                && self.emitting()
            {
                let what = if op == BinOp::Div {
                    "division"
                } else {
                    "remainder of a division"
                };
                let diagnostic = Diagnostic::new(
                    Code::InvalidLiteral,
                    format!("{what} by zero: `{}`", self.snippet(expr.span)),
                )
                .primary(self.file, right.0.span, "the divisor is 0")
                .help(format!(
                    "`{}` has no result for a divisor of 0; use another divisor",
                    op.as_str()
                ));
                self.report(diagnostic);
            }
            return ty;
        }
        if self.emitting() {
            let help = if op == BinOp::Add && (a.is_textual() || b.is_textual()) {
                format!(
                    "to join values into text, interpolate them: `\"{}{}\"`",
                    self.interpolated(left.0),
                    self.interpolated(right.0)
                )
            } else {
                format!("`{}` takes {}", op.as_str(), types::arithmetic_operands(op))
            };
            let message = format!(
                "cannot apply `{}` to {} and {}: `{}`",
                op.as_str(),
                with_article(a),
                with_article(b),
                self.snippet(expr.span)
            );
            let diagnostic = self.operand_mismatch(expr, message, left, right, help);
            self.report(diagnostic);
        }
        Type::Unknown
    }

    /// Returns how an expression reads inside a text literal.
    fn interpolated(&self, expr: &Expr) -> String {
        match plain_literal(expr) {
            Some(text) => text.to_string(),
            None => format!("{{{}}}", self.snippet(expr.span)),
        }
    }

    fn if_expr(&mut self, condition: &Expr, then: &Expr, otherwise: &Expr, found: &Bits) -> Type {
        self.expect(condition, found, Type::Bool, "the condition of `if`");
        let facts = self.facts(condition);
        let a = self.check(then, &with_ids(found, &facts.when_true));
        let b = self.check(otherwise, &with_ids(found, &facts.when_false));

        if a == Type::Unknown {
            return b;
        }
        if b == Type::Unknown || a == b {
            return a;
        }

        // A text literal fits a digits or language branch; mixed text and
        // digits give text.
        for (typed, (literal, literal_ty)) in [(a, (otherwise, b)), (b, (then, a))] {
            if literal_ty == Type::Text && matches!(typed, Type::Digits | Type::Language) {
                let ok = match plain_literal(literal) {
                    Some(text) if typed == Type::Digits => is_key_text(text),
                    Some(text) => {
                        self.check_language(text, literal.span);
                        true
                    }
                    None => false,
                };
                if ok {
                    return typed;
                }
            }
        }
        if a.is_textual() && b.is_textual() {
            return Type::Text;
        }

        if self.emitting() {
            let diagnostic = Diagnostic::new(
                Code::TypeMismatch,
                format!(
                    "the branches of `if` have different types: {} and {}",
                    a.name(),
                    b.name()
                ),
            )
            .primary(
                self.file,
                otherwise.span,
                format!("this is {}", with_article(b)),
            )
            .secondary(self.file, then.span, format!("this is {}", with_article(a)))
            .help("give both branches values of one type");
            self.report(diagnostic);
        }
        // The type of the whole is unknown; where it is used, no second
        // error follows from the one mistake.
        Type::Unknown
    }
}
