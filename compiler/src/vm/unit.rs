//! Evaluating expression units: pure computation over the call's values.
//!
//! The arithmetic follows the runtime rules of the bytecode format:
//! integers wrap, durations saturate at 0 and `u64::MAX` milliseconds (a
//! duration multiplied or divided by a negative integer is 0), and division
//! or remainder by zero gives 0.

use super::value::{field_as, from_const};
use super::{Call, Event, RunError, TraceLevel, Value};
use crate::bytecode::{ArithOp, Builtin, CmpOp, Input, Module, ScheduleId, Type, UnitId, UnitOp};
use std::cmp::Ordering;

impl Call {
    /// Runs a unit and returns its result. Its instructions count against
    /// the budget.
    pub(super) fn eval(&mut self, module: &Module, id: UnitId) -> Result<Value, RunError> {
        let Some(unit) = module.unit(id) else {
            return Err(self.invalid(format!("unit {} does not exist", id.0)));
        };
        let mut stack = std::mem::take(&mut self.unit_stack);
        stack.clear();
        let result = self.eval_ops(module, &unit.code, &mut stack);
        self.unit_stack = stack;
        let (value, executed) = result?;
        self.spend(executed)?;
        if self.options.trace == TraceLevel::Full {
            self.trace_eval(module, id, &value);
        }
        Ok(value)
    }

    fn eval_ops(
        &mut self,
        module: &Module,
        code: &[UnitOp],
        stack: &mut Vec<Value>,
    ) -> Result<(Value, u32), RunError> {
        let mut pc = 0;
        let mut executed: u32 = 0;
        while let Some(op) = code.get(pc) {
            executed = executed.saturating_add(1);
            pc += 1;
            match *op {
                UnitOp::Jump(t) => pc = t as usize,
                UnitOp::JumpIfNot(t) => {
                    if !self.pop_unit_bool(stack)? {
                        pc = t as usize;
                    }
                }
                UnitOp::JumpIfFalseOrPop(t) | UnitOp::JumpIfTrueOrPop(t) => {
                    let jump_on = matches!(op, UnitOp::JumpIfTrueOrPop(_));
                    match stack.last() {
                        Some(Value::Bool(b)) if *b == jump_on => pc = t as usize,
                        Some(Value::Bool(_)) => {
                            stack.pop();
                        }
                        _ => return Err(self.invalid("a short-circuit jump found no bool")),
                    }
                }
                op => {
                    let value = self.unit_op(module, op, stack)?;
                    stack.push(value);
                }
            }
        }
        match (stack.pop(), stack.is_empty()) {
            (Some(value), true) => Ok((value, executed)),
            _ => Err(self.invalid("a unit did not end with exactly one value")),
        }
    }

    /// Applies one unit instruction without a jump and returns the value
    /// it pushes.
    fn unit_op(
        &mut self,
        module: &Module,
        op: UnitOp,
        stack: &mut Vec<Value>,
    ) -> Result<Value, RunError> {
        Ok(match op {
            UnitOp::Const(c) => match module.constant(c).and_then(from_const) {
                Some(value) => value,
                None => return Err(self.invalid(format!("constant {} is not a value", c.0))),
            },
            UnitOp::Bool(b) => Value::Bool(b),
            UnitOp::Load(s) => self.slot_value(s)?.clone(),
            UnitOp::Builtin(b) => self.builtin(b),
            UnitOp::Field { name, ty } => {
                let contact = self.pop_unit(stack)?;
                self.field(module, contact, name, ty)?
            }
            UnitOp::IsFound | UnitOp::IsMissing => {
                let found = match self.pop_unit(stack)? {
                    Value::Contact(contact) => contact.is_some(),
                    _ => return Err(self.invalid("`is found` needs a contact")),
                };
                Value::Bool(found == matches!(op, UnitOp::IsFound))
            }
            UnitOp::Not => Value::Bool(!self.pop_unit_bool(stack)?),
            UnitOp::Neg => match self.pop_unit(stack)? {
                Value::Int(v) => Value::Int(v.wrapping_neg()),
                _ => return Err(self.invalid("negation needs an integer")),
            },
            UnitOp::Arith { op, .. } => {
                let right = self.pop_unit(stack)?;
                let left = self.pop_unit(stack)?;
                match arith(op, left, right) {
                    Some(value) => value,
                    None => return Err(self.invalid(format!("`{}` got other types", op.as_str()))),
                }
            }
            UnitOp::Compare { op, .. } => {
                let right = self.pop_unit(stack)?;
                let left = self.pop_unit(stack)?;
                match compare(op, &left, &right) {
                    Some(result) => Value::Bool(result),
                    None => return Err(self.invalid(format!("`{}` got other types", op.as_str()))),
                }
            }
            UnitOp::StartsWith => {
                let prefix = self.pop_unit_text(stack)?;
                let value = self.pop_unit_text(stack)?;
                Value::Bool(value.starts_with(prefix.as_str()))
            }
            UnitOp::Concat => {
                let second = self.pop_unit_text(stack)?;
                let mut first = self.pop_unit_text(stack)?;
                first.push_str(&second);
                Value::Text(first)
            }
            UnitOp::ToText(_) => match self.pop_unit(stack)?.to_text() {
                Some(text) => Value::Text(text),
                None => return Err(self.invalid("a contact has no text form")),
            },
            UnitOp::Length => {
                let text = self.pop_unit_text(stack)?;
                Value::Int(i64::try_from(text.chars().count()).unwrap_or(i64::MAX))
            }
            UnitOp::Open(h) => Value::Bool(self.verdict(module, h)?.open),
            UnitOp::Holiday(h) => Value::Bool(self.verdict(module, h)?.holiday),
            UnitOp::Today(h) => Value::Date(self.verdict(module, h)?.date),
            UnitOp::Now(h) => Value::Time(self.verdict(module, h)?.minute),
            UnitOp::Jump(_)
            | UnitOp::JumpIfNot(_)
            | UnitOp::JumpIfFalseOrPop(_)
            | UnitOp::JumpIfTrueOrPop(_) => {
                return Err(self.invalid("a jump reached the value step"));
            }
        })
    }

    fn pop_unit(&self, stack: &mut Vec<Value>) -> Result<Value, RunError> {
        stack
            .pop()
            .ok_or_else(|| self.invalid("a unit popped an empty stack"))
    }

    fn pop_unit_bool(&self, stack: &mut Vec<Value>) -> Result<bool, RunError> {
        match self.pop_unit(stack)? {
            Value::Bool(b) => Ok(b),
            _ => Err(self.invalid("expected a bool on the unit's stack")),
        }
    }

    fn pop_unit_text(&self, stack: &mut Vec<Value>) -> Result<String, RunError> {
        match self.pop_unit(stack)? {
            Value::Text(s) | Value::Digits(s) | Value::Language(s) => Ok(s),
            Value::NoInput => Ok(String::new()),
            _ => Err(self.invalid("expected text on the unit's stack")),
        }
    }

    /// Returns the value of a built-in name.
    pub(super) fn builtin(&self, builtin: Builtin) -> Value {
        match builtin {
            Builtin::CallFrom => Value::Text(
                self.info
                    .from
                    .clone()
                    .unwrap_or_else(|| String::from("anonymous")),
            ),
            Builtin::CallTo => Value::Text(self.info.to.clone()),
            Builtin::CallId => Value::Text(self.info.id.clone()),
            Builtin::CallAnonymous => Value::Bool(self.info.from.is_none()),
            Builtin::CallOutcome => Value::Text(
                self.outcome
                    .map_or_else(String::new, |o| o.as_str().to_string()),
            ),
            Builtin::CallQueue => Value::Text(self.queue.name.clone()),
            Builtin::CallAgent => Value::Text(self.queue.agent.clone()),
            Builtin::CallWait => Value::Duration(self.queue.wait_ms),
            Builtin::CallTalk => Value::Duration(self.queue.talk_ms),
            Builtin::Language => Value::Language(self.language.clone()),
        }
    }

    /// Reads a contact field. A missing contact or field reads as the
    /// empty value of `ty`; so does a field of another type, which the
    /// trace reports.
    fn field(
        &mut self,
        module: &Module,
        contact: Value,
        name: crate::bytecode::ConstId,
        ty: Type,
    ) -> Result<Value, RunError> {
        let Value::Contact(contact) = contact else {
            return Err(self.invalid("a field was read from a value that is not a contact"));
        };
        let Some(crate::bytecode::Const::Name(field)) = module.constant(name) else {
            return Err(self.invalid(format!("constant {} is not a field name", name.0)));
        };
        let empty = Value::empty(ty, &module.default_language);
        let Some(value) = contact.as_ref().and_then(|c| c.fields.get(field)) else {
            return Ok(empty);
        };
        match field_as(value, ty) {
            Some(value) => Ok(value),
            None => {
                self.record(TraceLevel::Path, || Event::FieldType {
                    field: field.clone(),
                    expected: ty,
                });
                Ok(empty)
            }
        }
    }

    /// Returns the schedule's verdict for the instant of this resume,
    /// evaluating it once per resume.
    fn verdict(&mut self, module: &Module, id: ScheduleId) -> Result<super::Verdict, RunError> {
        let index = id.0 as usize;
        let cached = self.verdicts.get(index).copied().flatten();
        let verdict = match cached {
            Some(verdict) => verdict,
            None => {
                let (Some(schedule), Some(zone)) =
                    (module.schedules.get(index), self.program.zone(id))
                else {
                    return Err(self.invalid(format!("schedule {} does not exist", id.0)));
                };
                let verdict = super::evaluate_schedule(schedule, zone, self.now);
                if let Some(slot) = self.verdicts.get_mut(index) {
                    *slot = Some(verdict);
                }
                verdict
            }
        };
        self.record(TraceLevel::Full, || Event::Schedule {
            schedule: id,
            verdict,
        });
        Ok(verdict)
    }

    /// Records a unit's result with the inputs it read. Sensitive slots
    /// are masked, and so is a text result of a unit that read one.
    fn trace_eval(&mut self, module: &Module, id: UnitId, value: &Value) {
        let Some(unit) = module.unit(id) else {
            return;
        };
        let mut read = Vec::with_capacity(unit.inputs.len());
        let mut sensitive = false;
        for input in &unit.inputs {
            match *input {
                Input::Slot(s) => {
                    let (Some(slot), Ok(current)) = (module.slot(s), self.slot_value(s)) else {
                        continue;
                    };
                    if slot.sensitive {
                        sensitive = true;
                        read.push((slot.name.clone(), current.masked()));
                    } else {
                        read.push((slot.name.clone(), current.clone()));
                    }
                }
                Input::Builtin(b) => read.push((b.as_str().to_string(), self.builtin(b))),
                Input::Clock(h) => {
                    let cached = self.verdicts.get(h.0 as usize).copied().flatten();
                    let (Some(schedule), Some(verdict)) =
                        (module.schedules.get(h.0 as usize), cached)
                    else {
                        continue;
                    };
                    // Each schedule function the unit calls is shown with
                    // its result, as the flow writes it: `open(office)`.
                    let mut shown = [false; 4];
                    for op in &unit.code {
                        let (index, function, value) = match *op {
                            UnitOp::Open(o) if o == h => (0, "open", Value::Bool(verdict.open)),
                            UnitOp::Holiday(o) if o == h => {
                                (1, "holiday", Value::Bool(verdict.holiday))
                            }
                            UnitOp::Today(o) if o == h => (2, "today", Value::Date(verdict.date)),
                            UnitOp::Now(o) if o == h => (3, "now", Value::Time(verdict.minute)),
                            _ => continue,
                        };
                        if let Some(seen) = shown.get_mut(index)
                            && !*seen
                        {
                            *seen = true;
                            read.push((format!("{function}({})", schedule.name), value));
                        }
                    }
                }
            }
        }
        let value = if sensitive {
            value.masked()
        } else {
            value.clone()
        };
        self.trace.push(Event::Eval {
            unit: id,
            value,
            read,
        });
    }
}

/// Computes `left op right` by the runtime rules, or `None` when the
/// operands do not fit the operator.
fn arith(op: ArithOp, left: Value, right: Value) -> Option<Value> {
    Some(match (left, right) {
        (Value::Int(a), Value::Int(b)) => Value::Int(match op {
            ArithOp::Add => a.wrapping_add(b),
            ArithOp::Sub => a.wrapping_sub(b),
            ArithOp::Mul => a.wrapping_mul(b),
            ArithOp::Div if b == 0 => 0,
            ArithOp::Div => a.wrapping_div(b),
            ArithOp::Rem if b == 0 => 0,
            ArithOp::Rem => a.wrapping_rem(b),
        }),
        (Value::Duration(a), Value::Duration(b)) => Value::Duration(match op {
            ArithOp::Add => a.saturating_add(b),
            ArithOp::Sub => a.saturating_sub(b),
            _ => return None,
        }),
        (Value::Duration(a), Value::Int(b)) => {
            let factor = u64::try_from(b).unwrap_or(0);
            Value::Duration(match op {
                ArithOp::Mul => a.saturating_mul(factor),
                ArithOp::Div => a.checked_div(factor).unwrap_or(0),
                _ => return None,
            })
        }
        _ => return None,
    })
}

/// Compares two values, or returns `None` when they cannot be compared
/// with `op`.
fn compare(op: CmpOp, left: &Value, right: &Value) -> Option<bool> {
    let ordering = match (left, right) {
        (Value::Int(a), Value::Int(b)) => a.cmp(b),
        (Value::Duration(a), Value::Duration(b)) => a.cmp(b),
        (Value::Date(a), Value::Date(b)) => a.cmp(b),
        (Value::Time(a), Value::Time(b)) => a.cmp(b),
        (Value::Bool(a), Value::Bool(b)) if matches!(op, CmpOp::Eq | CmpOp::Ne) => a.cmp(b),
        _ if matches!(op, CmpOp::Eq | CmpOp::Ne) => {
            let (a, b) = (left.as_text()?, right.as_text()?);
            if a == b {
                Ordering::Equal
            } else {
                Ordering::Less
            }
        }
        _ => return None,
    };
    Some(match op {
        CmpOp::Eq => ordering == Ordering::Equal,
        CmpOp::Ne => ordering != Ordering::Equal,
        CmpOp::Lt => ordering == Ordering::Less,
        CmpOp::Le => ordering != Ordering::Greater,
        CmpOp::Gt => ordering == Ordering::Greater,
        CmpOp::Ge => ordering != Ordering::Less,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_wrap_and_divide_by_zero_to_zero() {
        let int = Value::Int;
        assert_eq!(
            arith(ArithOp::Add, int(i64::MAX), int(1)),
            Some(int(i64::MIN))
        );
        assert_eq!(arith(ArithOp::Div, int(7), int(0)), Some(int(0)));
        assert_eq!(arith(ArithOp::Rem, int(7), int(0)), Some(int(0)));
        assert_eq!(
            arith(ArithOp::Div, int(i64::MIN), int(-1)),
            Some(int(i64::MIN))
        );
        assert_eq!(arith(ArithOp::Rem, int(-7), int(2)), Some(int(-1)));
    }

    #[test]
    fn durations_saturate() {
        let ms = Value::Duration;
        assert_eq!(arith(ArithOp::Sub, ms(5), ms(9)), Some(ms(0)));
        assert_eq!(arith(ArithOp::Add, ms(u64::MAX), ms(1)), Some(ms(u64::MAX)));
        assert_eq!(
            arith(ArithOp::Mul, ms(u64::MAX), Value::Int(2)),
            Some(ms(u64::MAX))
        );
        assert_eq!(arith(ArithOp::Mul, ms(10), Value::Int(-2)), Some(ms(0)));
        assert_eq!(arith(ArithOp::Div, ms(10), Value::Int(0)), Some(ms(0)));
        assert_eq!(arith(ArithOp::Rem, ms(10), ms(3)), None);
    }

    #[test]
    fn text_compares_across_kinds() {
        let text = Value::Text(String::from("123"));
        let digits = Value::Digits(String::from("123"));
        assert_eq!(compare(CmpOp::Eq, &text, &digits), Some(true));
        assert_eq!(compare(CmpOp::Ne, &text, &digits), Some(false));
        assert_eq!(compare(CmpOp::Lt, &text, &digits), None);
        assert_eq!(
            compare(CmpOp::Le, &Value::Int(2), &Value::Int(2)),
            Some(true)
        );
    }
}
