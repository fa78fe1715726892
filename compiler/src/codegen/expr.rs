//! Expressions: their types and their compilation to units.
//!
//! [`Generator::infer`] works out a type without emitting anything (for
//! variables created with `let`); [`Generator::emit`] compiles into a
//! [`UnitBuilder`] and returns the same type. Both take the typing of
//! binary operators from [`plan`], so they cannot disagree.

use super::{Compiled, Generator, Reported};
use crate::bytecode::{
    ArithOp, Builtin, CmpOp, Const, Date, ExprUnit, Input, MAX_UNIT_LEN, MAX_UNIT_STACK, Type,
    UnitId, UnitOp,
};
use crate::config::{BUILTIN_CONTACT_FIELDS, FieldType};
use crate::diag::{Span, unknown_name_help};
use crate::syntax::ast::{BinOp, DateLit, Expr, ExprKind, Ident, TextPart, TimeLit};
use std::collections::BTreeSet;

/// A unit under construction.
#[derive(Default)]
pub(super) struct UnitBuilder {
    code: Vec<UnitOp>,
    inputs: BTreeSet<Input>,
    depth: usize,
    max_depth: usize,
}

impl UnitBuilder {
    /// Appends an instruction that pops `pops` values and pushes `pushes`.
    pub fn op(&mut self, op: UnitOp, pops: usize, pushes: usize) -> usize {
        self.depth = self.depth.saturating_sub(pops) + pushes;
        self.max_depth = self.max_depth.max(self.depth);
        self.code.push(op);
        self.code.len() - 1
    }

    /// Appends an instruction that reads an input.
    pub fn read(&mut self, op: UnitOp, input: Input) {
        self.inputs.insert(input);
        self.op(op, 0, 1);
    }

    /// Points the jump at `at` to the next instruction.
    pub fn bind(&mut self, at: usize) {
        let here = self.code.len() as u32;
        if let Some(op) = self.code.get_mut(at) {
            op.set_target(here);
        }
    }
}

/// The instruction a binary operator compiles to for two operand types.
#[derive(Clone, Copy)]
enum Plan {
    Arith(ArithOp, Type),
    Compare(CmpOp, Type),
    Concat,
    StartsWith,
}

/// Returns how `left op right` compiles and its result type, or `None`
/// when the operator is not defined on these types. `and` and `or` are
/// handled by the callers.
fn plan(op: BinOp, left: Type, right: Type) -> Option<(Plan, Type)> {
    use Type::{Bool, Date, Duration, Int, Text, Time};
    let both_text = left.is_text_like() && right.is_text_like();
    let arith = |op| match (left, right) {
        (Int, Int) => Some((Plan::Arith(op, Int), Int)),
        (Duration, Duration) if matches!(op, ArithOp::Add | ArithOp::Sub) => {
            Some((Plan::Arith(op, Duration), Duration))
        }
        (Duration, Int) if matches!(op, ArithOp::Mul | ArithOp::Div) => {
            Some((Plan::Arith(op, Duration), Duration))
        }
        _ => None,
    };
    let compare = |op| match (left, right) {
        _ if both_text && matches!(op, CmpOp::Eq | CmpOp::Ne) => {
            Some((Plan::Compare(op, Text), Bool))
        }
        (Bool, Bool) if matches!(op, CmpOp::Eq | CmpOp::Ne) => {
            Some((Plan::Compare(op, Bool), Bool))
        }
        (Int, Int) | (Duration, Duration) | (Date, Date) | (Time, Time) => {
            Some((Plan::Compare(op, left), Bool))
        }
        _ => None,
    };
    match op {
        BinOp::Add if both_text => Some((Plan::Concat, Text)),
        BinOp::Add => arith(ArithOp::Add),
        BinOp::Sub => arith(ArithOp::Sub),
        BinOp::Mul => arith(ArithOp::Mul),
        BinOp::Div => arith(ArithOp::Div),
        BinOp::Rem => arith(ArithOp::Rem),
        BinOp::Eq => compare(CmpOp::Eq),
        BinOp::Ne => compare(CmpOp::Ne),
        BinOp::Lt => compare(CmpOp::Lt),
        BinOp::Le => compare(CmpOp::Le),
        BinOp::Gt => compare(CmpOp::Gt),
        BinOp::Ge => compare(CmpOp::Ge),
        BinOp::StartsWith if both_text => Some((Plan::StartsWith, Bool)),
        BinOp::StartsWith | BinOp::And | BinOp::Or => None,
    }
}

/// Returns the text of a string literal without interpolation.
pub(super) fn literal_text(expr: &Expr) -> Option<String> {
    let ExprKind::Text(parts) = &expr.kind else {
        return None;
    };
    let mut text = String::new();
    for part in parts {
        match part {
            TextPart::Literal(s) => text.push_str(s),
            TextPart::Expr(_) => return None,
        }
    }
    Some(text)
}

/// True when a text can be a digits value.
pub(super) fn is_digits(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
}

/// Maps a config field type to a value type.
fn field_type(ty: FieldType) -> Type {
    match ty {
        FieldType::Text => Type::Text,
        FieldType::Integer => Type::Int,
        FieldType::Bool => Type::Bool,
        FieldType::Date => Type::Date,
        FieldType::Digits => Type::Digits,
    }
}

/// The schedule functions and what they return.
const CLOCK_FUNCTIONS: [(&str, Type); 4] = [
    ("open", Type::Bool),
    ("holiday", Type::Bool),
    ("today", Type::Date),
    ("now", Type::Time),
];

impl<'p> Generator<'p> {
    /// Returns the constant for a literal, checking dates and times.
    pub(super) fn literal_const(
        &mut self,
        expr: &Expr,
        want: Option<Type>,
    ) -> Compiled<Option<Const>> {
        Ok(Some(match &expr.kind {
            ExprKind::Int(v) => Const::Int(*v),
            ExprKind::Duration(ms) => Const::Duration(*ms),
            ExprKind::Date(d) => Const::Date(self.date(*d)?),
            ExprKind::Time(t) => Const::Time(self.time(*t, expr.span)?),
            ExprKind::Text(_) => match literal_text(expr) {
                Some(text) if want == Some(Type::Digits) && is_digits(&text) => Const::Digits(text),
                Some(text) => Const::Text(text),
                None => return Ok(None),
            },
            _ => return Ok(None),
        }))
    }

    pub(super) fn date(&mut self, d: DateLit) -> Compiled<Date> {
        let date = Date {
            year: d.year,
            month: d.month,
            day: d.day,
        };
        if date.is_valid() {
            Ok(date)
        } else {
            Err(self.fail(d.span, format!("{date} is not a date"), "no such date"))
        }
    }

    pub(super) fn time(&mut self, t: TimeLit, span: Span) -> Compiled<u16> {
        let minutes = t.minutes();
        if t.minute < 60 && minutes <= 24 * 60 {
            Ok(minutes as u16)
        } else {
            let shown = format!("{:02}:{:02}", t.hour, t.minute);
            Err(self.fail(
                span,
                format!("{shown} is not a time of day"),
                "no such time",
            ))
        }
    }

    /// Works out the type of an expression without compiling it.
    pub(super) fn infer(&mut self, scope: usize, expr: &Expr) -> Compiled<Type> {
        Ok(match &expr.kind {
            ExprKind::Bool(_)
            | ExprKind::Not(_)
            | ExprKind::IsFound(_)
            | ExprKind::IsMissing(_)
            | ExprKind::Binary(BinOp::And | BinOp::Or, ..) => Type::Bool,
            ExprKind::Int(_) | ExprKind::Neg(_) => Type::Int,
            ExprKind::Duration(_) => Type::Duration,
            ExprKind::Date(_) => Type::Date,
            ExprKind::Time(_) => Type::Time,
            ExprKind::Text(_) => Type::Text,
            ExprKind::Percent(_) => return Err(self.percent(expr.span)),
            ExprKind::Name(name) => self.name(scope, name)?.1,
            ExprKind::Field(base, field) => match self.call_builtin(scope, base, field)? {
                Some(builtin) => builtin.ty(),
                None => {
                    let base_type = self.infer(scope, base)?;
                    self.contact_field(base_type, base.span, field)?
                }
            },
            ExprKind::Call(function, args) => self.function_type(function, args.len())?,
            ExprKind::Binary(op, left, right) => {
                let left_type = self.infer(scope, left)?;
                let right_type = self.infer(scope, right)?;
                self.plan(*op, left_type, right_type, expr.span)?.1
            }
            ExprKind::If(_, then, _) => self.infer(scope, then)?,
        })
    }

    fn percent(&mut self, span: Span) -> Reported {
        self.fail(
            span,
            "a percentage is allowed only in a queue's `target`",
            "not a value",
        )
    }

    fn plan(&mut self, op: BinOp, left: Type, right: Type, span: Span) -> Compiled<(Plan, Type)> {
        plan(op, left, right).ok_or_else(|| {
            let message = format!(
                "`{}` is not defined on {} and {}",
                op.as_str(),
                left.as_str(),
                right.as_str()
            );
            self.fail(span, message, "types do not fit")
        })
    }

    /// Resolves a bare name: a variable of the scope, or `language`.
    fn name(&mut self, scope: usize, name: &Ident) -> Compiled<(Input, Type)> {
        if let Some(found) = self.variable(scope, &name.name) {
            let (slot, ty) = found?;
            return Ok((Input::Slot(slot), ty));
        }
        if name.name == "language" {
            return Ok((Input::Builtin(Builtin::Language), Type::Language));
        }
        let help = self
            .scopes
            .get(scope)
            .map(|s| unknown_name_help("variable", &name.name, s.names()));
        let reported = self.fail(
            name.span,
            format!("`{}` is not a variable", name.name),
            "unknown name",
        );
        if let (Some(help), Some(last)) = (help, self.errors.last_mut()) {
            last.help = Some(help);
        }
        Err(reported)
    }

    /// Returns the built-in for `call.FIELD`, or `None` when the base is
    /// not the built-in `call`.
    fn call_builtin(
        &mut self,
        scope: usize,
        base: &Expr,
        field: &Ident,
    ) -> Compiled<Option<Builtin>> {
        let ExprKind::Name(name) = &base.kind else {
            return Ok(None);
        };
        if name.name != "call" || self.variable(scope, "call").is_some() {
            return Ok(None);
        }
        match Builtin::call_field(&field.name) {
            Some(builtin) => Ok(Some(builtin)),
            None => Err(self.fail(
                field.span,
                format!("`call.{}` is not a property of the call", field.name),
                "unknown field",
            )),
        }
    }

    fn contact_field(&mut self, base: Type, span: Span, field: &Ident) -> Compiled<Type> {
        if base != Type::Contact {
            let message = format!("a {} has no field `{}`", base.as_str(), field.name);
            return Err(self.fail(span, message, "not a contact"));
        }
        let builtin = BUILTIN_CONTACT_FIELDS
            .iter()
            .find(|(name, _)| *name == field.name)
            .map(|(_, ty)| *ty);
        let custom = self
            .index
            .project
            .config
            .crm_fields
            .get(&field.name)
            .copied();
        match builtin.or(custom) {
            Some(ty) => Ok(field_type(ty)),
            None => Err(self.fail(
                field.span,
                format!("contacts have no field `{}`", field.name),
                "unknown field",
            )),
        }
    }

    fn function_type(&mut self, function: &Ident, args: usize) -> Compiled<Type> {
        let result = match function.name.as_str() {
            "length" => Type::Int,
            name => match CLOCK_FUNCTIONS.iter().find(|(f, _)| *f == name) {
                Some((_, ty)) => *ty,
                None => {
                    let message = format!("`{}` is not a function", function.name);
                    return Err(self.fail(function.span, message, "unknown function"));
                }
            },
        };
        if args != 1 {
            let message = format!("`{}` takes one argument, not {args}", function.name);
            return Err(self.fail(function.span, message, "wrong number of arguments"));
        }
        Ok(result)
    }

    /// Compiles an expression into a new unit and returns it with its
    /// type. With `as_text`, a value that is not text-like is turned into
    /// text.
    pub(super) fn unit(
        &mut self,
        scope: usize,
        expr: &Expr,
        want: Option<Type>,
        as_text: bool,
    ) -> Compiled<(UnitId, Type)> {
        let mut unit = UnitBuilder::default();
        let mut ty = self.emit(&mut unit, scope, expr, want)?;
        if as_text && !ty.is_text_like() {
            self.emit_to_text(&mut unit, ty, expr.span)?;
            ty = Type::Text;
        }
        let id = self.finish_unit(unit, ty, expr.span)?;
        Ok((id, ty))
    }

    /// Adds a finished unit to the module.
    pub(super) fn finish_unit(
        &mut self,
        unit: UnitBuilder,
        result: Type,
        span: Span,
    ) -> Compiled<UnitId> {
        if unit.code.len() > MAX_UNIT_LEN || unit.max_depth > MAX_UNIT_STACK {
            return Err(self.fail(span, "the expression is too large", "split it with `let`"));
        }
        let id = UnitId(self.units.len() as u32);
        self.units.push(ExprUnit {
            result,
            inputs: unit.inputs.into_iter().collect(),
            code: unit.code,
        });
        Ok(id)
    }

    fn emit_to_text(&mut self, unit: &mut UnitBuilder, ty: Type, span: Span) -> Compiled<()> {
        if ty == Type::Contact {
            let message = "a contact cannot be shown as text; use one of its fields";
            return Err(self.fail(span, message, "a contact"));
        }
        unit.op(UnitOp::ToText(ty), 1, 1);
        Ok(())
    }

    /// Compiles an expression into `unit`, leaving one value, and returns
    /// its type. A text literal becomes digits when `want` is digits.
    pub(super) fn emit(
        &mut self,
        unit: &mut UnitBuilder,
        scope: usize,
        expr: &Expr,
        want: Option<Type>,
    ) -> Compiled<Type> {
        if let Some(constant) = self.literal_const(expr, want)? {
            let ty = constant.value_type().unwrap_or(Type::Text);
            let id = self.constant(constant);
            unit.op(UnitOp::Const(id), 0, 1);
            return Ok(ty);
        }
        match &expr.kind {
            ExprKind::Bool(b) => {
                unit.op(UnitOp::Bool(*b), 0, 1);
                Ok(Type::Bool)
            }
            ExprKind::Percent(_) => Err(self.percent(expr.span)),
            ExprKind::Text(parts) => self.emit_text(unit, scope, parts),
            ExprKind::Name(name) => {
                let (input, ty) = self.name(scope, name)?;
                let op = match input {
                    Input::Slot(slot) => UnitOp::Load(slot),
                    Input::Builtin(builtin) => UnitOp::Builtin(builtin),
                    Input::Clock(h) => UnitOp::Open(h),
                };
                unit.read(op, input);
                Ok(ty)
            }
            ExprKind::Field(base, field) => self.emit_field(unit, scope, base, field),
            ExprKind::Call(function, args) => self.emit_call(unit, scope, function, args),
            ExprKind::Not(inner) => {
                self.emit_typed(unit, scope, inner, Type::Bool)?;
                unit.op(UnitOp::Not, 1, 1);
                Ok(Type::Bool)
            }
            ExprKind::Neg(inner) => {
                self.emit_typed(unit, scope, inner, Type::Int)?;
                unit.op(UnitOp::Neg, 1, 1);
                Ok(Type::Int)
            }
            ExprKind::IsFound(inner) | ExprKind::IsMissing(inner) => {
                self.emit_typed(unit, scope, inner, Type::Contact)?;
                let op = match expr.kind {
                    ExprKind::IsFound(_) => UnitOp::IsFound,
                    _ => UnitOp::IsMissing,
                };
                unit.op(op, 1, 1);
                Ok(Type::Bool)
            }
            ExprKind::Binary(op @ (BinOp::And | BinOp::Or), left, right) => {
                self.emit_typed(unit, scope, left, Type::Bool)?;
                let jump = match op {
                    BinOp::And => UnitOp::JumpIfFalseOrPop(0),
                    _ => UnitOp::JumpIfTrueOrPop(0),
                };
                let at = unit.op(jump, 1, 0);
                self.emit_typed(unit, scope, right, Type::Bool)?;
                unit.bind(at);
                Ok(Type::Bool)
            }
            ExprKind::Binary(op, left, right) => {
                let left_type = self.emit(unit, scope, left, None)?;
                let right_type = self.emit(unit, scope, right, Some(left_type))?;
                let (plan, result) = self.plan(*op, left_type, right_type, expr.span)?;
                let instr = match plan {
                    Plan::Arith(op, ty) => UnitOp::Arith { op, ty },
                    Plan::Compare(op, ty) => UnitOp::Compare { op, ty },
                    Plan::Concat => UnitOp::Concat,
                    Plan::StartsWith => UnitOp::StartsWith,
                };
                unit.op(instr, 2, 1);
                Ok(result)
            }
            ExprKind::If(condition, then, otherwise) => {
                self.emit_typed(unit, scope, condition, Type::Bool)?;
                let to_else = unit.op(UnitOp::JumpIfNot(0), 1, 0);
                let then_type = self.emit(unit, scope, then, want)?;
                let to_end = unit.op(UnitOp::Jump(0), 1, 0);
                unit.bind(to_else);
                let else_type = self.emit(unit, scope, otherwise, Some(then_type))?;
                unit.bind(to_end);
                if then_type != else_type {
                    let message = format!(
                        "the branches have different types, {} and {}",
                        then_type.as_str(),
                        else_type.as_str()
                    );
                    return Err(self.fail(expr.span, message, "branches differ"));
                }
                Ok(then_type)
            }
            ExprKind::Int(_) | ExprKind::Duration(_) | ExprKind::Date(_) | ExprKind::Time(_) => {
                // Literals were handled above.
                Err(self.fail(expr.span, "literal not understood", "literal"))
            }
        }
    }

    /// Compiles an expression that must have the type `wanted`.
    fn emit_typed(
        &mut self,
        unit: &mut UnitBuilder,
        scope: usize,
        expr: &Expr,
        wanted: Type,
    ) -> Compiled<()> {
        let ty = self.emit(unit, scope, expr, Some(wanted))?;
        if ty == wanted {
            Ok(())
        } else {
            let message = format!("expected {}, found {}", wanted.as_str(), ty.as_str());
            Err(self.fail(expr.span, message, "wrong type"))
        }
    }

    fn emit_text(
        &mut self,
        unit: &mut UnitBuilder,
        scope: usize,
        parts: &[TextPart],
    ) -> Compiled<Type> {
        let mut first_type = None;
        for (i, part) in parts.iter().enumerate() {
            let ty = match part {
                TextPart::Literal(text) => {
                    let id = self.constant(Const::Text(text.clone()));
                    unit.op(UnitOp::Const(id), 0, 1);
                    Type::Text
                }
                TextPart::Expr(expr) => {
                    let ty = self.emit(unit, scope, expr, None)?;
                    if !ty.is_text_like() {
                        self.emit_to_text(unit, ty, expr.span)?;
                    }
                    ty
                }
            };
            if i == 0 {
                first_type = Some(ty);
            } else {
                unit.op(UnitOp::Concat, 2, 1);
            }
        }
        match first_type {
            None => {
                let id = self.constant(Const::Text(String::new()));
                unit.op(UnitOp::Const(id), 0, 1);
            }
            Some(ty) if parts.len() == 1 && ty.is_text_like() && ty != Type::Text => {
                unit.op(UnitOp::ToText(ty), 1, 1);
            }
            Some(_) => {}
        }
        Ok(Type::Text)
    }

    fn emit_field(
        &mut self,
        unit: &mut UnitBuilder,
        scope: usize,
        base: &Expr,
        field: &Ident,
    ) -> Compiled<Type> {
        if let Some(builtin) = self.call_builtin(scope, base, field)? {
            unit.read(UnitOp::Builtin(builtin), Input::Builtin(builtin));
            return Ok(builtin.ty());
        }
        let base_type = self.emit(unit, scope, base, None)?;
        let ty = self.contact_field(base_type, base.span, field)?;
        let name = self.constant(Const::Name(field.name.clone()));
        unit.op(UnitOp::Field { name, ty }, 1, 1);
        Ok(ty)
    }

    fn emit_call(
        &mut self,
        unit: &mut UnitBuilder,
        scope: usize,
        function: &Ident,
        args: &[Expr],
    ) -> Compiled<Type> {
        let result = self.function_type(function, args.len())?;
        let Some(arg) = args.first() else {
            return Err(Reported);
        };
        if function.name == "length" {
            let ty = self.emit(unit, scope, arg, None)?;
            if !ty.is_text_like() {
                let message = format!("`length` takes text or digits, not {}", ty.as_str());
                return Err(self.fail(arg.span, message, "wrong type"));
            }
            unit.op(UnitOp::Length, 1, 1);
            return Ok(result);
        }
        let ExprKind::Name(schedule) = &arg.kind else {
            let message = format!("`{}` takes the name of a schedule", function.name);
            return Err(self.fail(arg.span, message, "not a schedule name"));
        };
        let id = self.schedule_id(schedule)?;
        let op = match function.name.as_str() {
            "open" => UnitOp::Open(id),
            "holiday" => UnitOp::Holiday(id),
            "today" => UnitOp::Today(id),
            _ => UnitOp::Now(id),
        };
        unit.read(op, Input::Clock(id));
        Ok(result)
    }
}
