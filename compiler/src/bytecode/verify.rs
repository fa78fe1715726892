//! Checks that a decoded module is safe to run. Every index is in range and
//! every constant has the kind its operand needs. Every jump stays in its
//! block, and jumps in units go forward. Every instruction finds values of
//! the right type on the stack on every path.
//!
//! Units are checked in one pass because their jumps go forward. Code
//! blocks may jump back (menus ask again), so they are checked with a work
//! list: the stack at each instruction is computed once and every other
//! path into it must bring the same stack.

use super::decode::DecodeError;
use super::{
    ArithOp, BlockKind, CmpOp, Const, ConstId, ExprUnit, Input, Instr, MAX_CODE_STACK,
    MAX_UNIT_LEN, MAX_UNIT_STACK, Module, Position, ProbeId, SlotId, Type, UnitOp,
};

/// Byte offsets the reader recorded, for error messages.
#[derive(Debug, Default)]
pub(super) struct Offsets {
    /// Per unit, the offset of each instruction.
    pub units: Vec<Vec<usize>>,
    /// Per block, the offset of the block and of each instruction.
    pub blocks: Vec<(usize, Vec<usize>)>,
    /// Per queue, the offsets of the priority unit and overflow block
    /// indices.
    pub queues: Vec<(usize, usize)>,
    /// Per block, the offset of its line table.
    pub lines: Vec<usize>,
    /// The offset of the probe table.
    pub probes: usize,
}

type Result<T, E = DecodeError> = std::result::Result<T, E>;

/// Verifies a whole module.
pub(super) fn verify(module: &Module, offsets: &Offsets) -> Result<()> {
    for (index, unit) in module.units.iter().enumerate() {
        let unit_offsets = offsets.units.get(index).map_or(&[][..], Vec::as_slice);
        verify_unit(module, index, unit, unit_offsets)?;
    }
    verify_queues(module, offsets)?;
    verify_block_kinds(module, offsets)?;
    verify_positions(module, offsets)?;
    for (index, block) in module.blocks.iter().enumerate() {
        let (start, instr_offsets) = offsets
            .blocks
            .get(index)
            .map_or((0, &[][..]), |(s, o)| (*s, o.as_slice()));
        let checker = BlockChecker {
            module,
            index,
            kind: &block.kind,
            code: &block.code,
            offsets: instr_offsets,
            start,
        };
        checker.verify()?;
    }
    Ok(())
}

fn verify_queues(module: &Module, offsets: &Offsets) -> Result<()> {
    for (index, queue) in module.queues.iter().enumerate() {
        let (priority_at, overflow_at) = offsets.queues.get(index).copied().unwrap_or_default();
        if let Some(unit) = queue.priority {
            let Some(found) = module.unit(unit) else {
                return Err(out_of_range(
                    priority_at,
                    "unit",
                    unit.0,
                    module.units.len(),
                ));
            };
            if found.result != Type::Int {
                return Err(DecodeError::invalid(
                    priority_at,
                    format!(
                        "priority of queue `{}` is unit {} of type {}, not integer",
                        queue.name,
                        unit.0,
                        found.result.as_str()
                    ),
                ));
            }
        }
        if let Some(block) = queue.overflow {
            let Some(found) = module.block(block) else {
                return Err(out_of_range(
                    overflow_at,
                    "block",
                    block.0,
                    module.blocks.len(),
                ));
            };
            if found.kind != BlockKind::Overflow(super::QueueId(index as u32)) {
                return Err(DecodeError::invalid(
                    overflow_at,
                    format!(
                        "overflow of queue `{}` is block {}, which is not its overflow block",
                        queue.name, block.0
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn verify_block_kinds(module: &Module, offsets: &Offsets) -> Result<()> {
    let mut on_call = 0;
    let mut after_call = 0;
    for (index, block) in module.blocks.iter().enumerate() {
        let at = offsets.blocks.get(index).map_or(0, |(s, _)| *s);
        match &block.kind {
            BlockKind::OnCall => on_call += 1,
            BlockKind::AfterCall => after_call += 1,
            BlockKind::Overflow(queue) if queue.0 as usize >= module.queues.len() => {
                return Err(out_of_range(at + 1, "queue", queue.0, module.queues.len()));
            }
            _ => {}
        }
        if on_call > 1 || after_call > 1 {
            return Err(DecodeError::invalid(
                at,
                "a module has one `on call` block and at most one `after call` block",
            ));
        }
    }
    if on_call == 0 {
        let end = offsets.blocks.last().map_or(0, |(s, _)| *s);
        return Err(DecodeError::invalid(
            end,
            "the module has no `on call` block",
        ));
    }
    Ok(())
}

/// Checks the line tables and the probes' positions: every source index
/// in range, lines and columns from 1, entries sorted by instruction with
/// no repeats and inside their block.
fn verify_positions(module: &Module, offsets: &Offsets) -> Result<()> {
    let check = |at: usize, place: &str, position: Position| {
        if position.source as usize >= module.sources.len() {
            return Err(out_of_range(
                at,
                "source",
                position.source,
                module.sources.len(),
            ));
        }
        if position.line == 0 || position.column == 0 {
            return Err(DecodeError::invalid(
                at,
                format!(
                    "{place}: line {} column {} is not a position; both count from 1",
                    position.line, position.column
                ),
            ));
        }
        Ok(())
    };
    for (index, block) in module.blocks.iter().enumerate() {
        let at = offsets.lines.get(index).copied().unwrap_or(0);
        let place = format!("line table of block {index}");
        let mut previous: Option<u32> = None;
        for entry in &block.lines {
            check(at, &place, entry.at)?;
            if entry.instr as usize >= block.code.len() {
                return Err(DecodeError::invalid(
                    at,
                    format!(
                        "{place}: instruction {} is outside the block ({} instructions)",
                        entry.instr,
                        block.code.len()
                    ),
                ));
            }
            if previous.is_some_and(|p| p >= entry.instr) {
                return Err(DecodeError::invalid(
                    at,
                    format!("{place}: entries are not sorted by instruction without repeats"),
                ));
            }
            previous = Some(entry.instr);
        }
    }
    for (index, probe) in module.probes.iter().enumerate() {
        check(offsets.probes, &format!("probe {index}"), probe.at)?;
    }
    Ok(())
}

fn probe_id(module: &Module, at: usize, id: ProbeId) -> Result<()> {
    if (id.0 as usize) < module.probes.len() {
        Ok(())
    } else {
        Err(out_of_range(at, "probe", id.0, module.probes.len()))
    }
}

fn out_of_range(offset: usize, what: &'static str, index: u32, len: usize) -> DecodeError {
    DecodeError::IndexOutOfRange {
        offset,
        what,
        index,
        len,
    }
}

/// Returns the constant or an error naming the index.
fn constant(module: &Module, at: usize, id: ConstId) -> Result<&Const> {
    module
        .constant(id)
        .ok_or_else(|| out_of_range(at, "constant", id.0, module.consts.len()))
}

/// Returns the type of a slot or an error naming the index.
fn slot_type(module: &Module, at: usize, id: SlotId) -> Result<Type> {
    module
        .slot(id)
        .map(|s| s.ty)
        .ok_or_else(|| out_of_range(at, "slot", id.0, module.slots.len()))
}

/// Checks that a constant is a value and returns its type.
fn value_const(module: &Module, at: usize, id: ConstId) -> Result<Type> {
    let found = constant(module, at, id)?;
    found.value_type().ok_or_else(|| {
        DecodeError::invalid(
            at,
            format!("constant {} is a {}, not a value", id.0, found.kind_name()),
        )
    })
}

/// Checks that a constant is a prompt (`wanted` is "prompt") or a name.
fn operand_const(module: &Module, at: usize, id: ConstId, wanted: &'static str) -> Result<()> {
    let found = constant(module, at, id)?;
    let ok = match wanted {
        "prompt" => matches!(found, Const::Prompt(_)),
        _ => matches!(found, Const::Name(_)),
    };
    if ok {
        Ok(())
    } else {
        Err(DecodeError::invalid(
            at,
            format!(
                "constant {} is a {}, expected a {wanted}",
                id.0,
                found.kind_name()
            ),
        ))
    }
}

/// A type stack with the checks every instruction needs.
struct Stack<'a> {
    types: Vec<Type>,
    at: usize,
    place: &'a str,
    limit: usize,
}

impl Stack<'_> {
    fn error(&self, message: impl std::fmt::Display) -> DecodeError {
        DecodeError::invalid(self.at, format!("{}: {message}", self.place))
    }

    fn push(&mut self, ty: Type) -> Result<()> {
        if self.types.len() >= self.limit {
            return Err(self.error(format!("stack deeper than {}", self.limit)));
        }
        self.types.push(ty);
        Ok(())
    }

    fn pop_where(&mut self, wanted: &str, ok: impl Fn(Type) -> bool) -> Result<Type> {
        match self.types.pop() {
            Some(ty) if ok(ty) => Ok(ty),
            Some(ty) => Err(self.error(format!(
                "expected {wanted} on the stack, found {}",
                ty.as_str()
            ))),
            None => Err(self.error(format!("expected {wanted} on the stack, found nothing"))),
        }
    }

    fn pop(&mut self, wanted: Type) -> Result<()> {
        self.pop_where(wanted.as_str(), |ty| ty == wanted).map(drop)
    }

    fn pop_text(&mut self) -> Result<()> {
        self.pop_where("text, digits or language", Type::is_text_like)
            .map(drop)
    }

    fn peek_where(&self, wanted: &str, ok: impl Fn(Type) -> bool) -> Result<()> {
        match self.types.last() {
            Some(ty) if ok(*ty) => Ok(()),
            Some(ty) => Err(self.error(format!(
                "expected {wanted} on the stack, found {}",
                ty.as_str()
            ))),
            None => Err(self.error(format!("expected {wanted} on the stack, found nothing"))),
        }
    }

    fn expect_empty(&self) -> Result<()> {
        if self.types.is_empty() {
            Ok(())
        } else {
            Err(self.error(format!("{} values left on the stack", self.types.len())))
        }
    }
}

fn verify_unit(module: &Module, index: usize, unit: &ExprUnit, offsets: &[usize]) -> Result<()> {
    let start = offsets.first().copied().unwrap_or(0);
    let place = format!("unit {index}");
    if unit.code.len() > MAX_UNIT_LEN {
        return Err(DecodeError::invalid(
            start,
            format!(
                "{place} has {} instructions, more than {MAX_UNIT_LEN}",
                unit.code.len()
            ),
        ));
    }
    if unit.result == Type::Contact {
        return Err(DecodeError::invalid(
            start,
            format!("{place} returns a contact"),
        ));
    }
    verify_inputs(module, unit, start, &place)?;
    let len = unit.code.len();
    let mut merges: Vec<Option<Vec<Type>>> = vec![None; len + 1];
    let mut current: Option<Vec<Type>> = Some(Vec::new());
    for (i, op) in unit.code.iter().enumerate() {
        let at = offsets.get(i).copied().unwrap_or(start);
        let place = format!("unit {index}, instruction {i}");
        check_unit_operands(module, unit, *op, at, &place)?;
        if let Some(incoming) = merges.get_mut(i).and_then(Option::take) {
            current = Some(merge(current, incoming, at, &place)?);
        }
        let Some(types) = current.take() else {
            continue;
        };
        let mut stack = Stack {
            types,
            at,
            place: &place,
            limit: MAX_UNIT_STACK,
        };
        if op.target().is_some() {
            let (target, jumped, falls_through) = unit_jump(*op, i, len, &mut stack)?;
            if let Some(slot) = merges.get_mut(target) {
                let previous = slot.take();
                *slot = Some(merge(previous, jumped, at, &place)?);
            }
            if !falls_through {
                continue;
            }
        } else {
            apply_unit_op(module, *op, &mut stack)?;
        }
        current = Some(stack.types);
    }
    let end = offsets.last().copied().unwrap_or(start);
    if let Some(incoming) = merges.get_mut(len).and_then(Option::take) {
        current = Some(merge(current, incoming, end, &place)?);
    }
    check_unit_end(current.as_deref(), unit.result, end, &place)
}

/// Checks a unit jump and returns its target, the stack it brings there and
/// whether execution can also continue with the next instruction.
fn unit_jump(
    op: UnitOp,
    i: usize,
    len: usize,
    stack: &mut Stack<'_>,
) -> Result<(usize, Vec<Type>, bool)> {
    let target = op.target().unwrap_or(0) as usize;
    if target <= i || target > len {
        return Err(stack.error(format!(
            "jump target {target} is not after the jump and within the unit"
        )));
    }
    match op {
        UnitOp::JumpIfNot(_) => {
            stack.pop(Type::Bool)?;
            Ok((target, stack.types.clone(), true))
        }
        UnitOp::JumpIfFalseOrPop(_) | UnitOp::JumpIfTrueOrPop(_) => {
            stack.peek_where("bool", |t| t == Type::Bool)?;
            let kept = stack.types.clone();
            stack.types.pop();
            Ok((target, kept, true))
        }
        _ => Ok((target, stack.types.clone(), false)),
    }
}

/// Checks that a unit ends with exactly its result on the stack.
fn check_unit_end(types: Option<&[Type]>, result: Type, end: usize, place: &str) -> Result<()> {
    match types {
        Some([ty]) if *ty == result => Ok(()),
        Some(types) => Err(DecodeError::invalid(
            end,
            format!(
                "{place} ends with {} values on the stack, expected one {}",
                types.len(),
                result.as_str()
            ),
        )),
        None => Err(DecodeError::invalid(
            end,
            format!("{place} has no path to its end"),
        )),
    }
}

fn merge(
    current: Option<Vec<Type>>,
    incoming: Vec<Type>,
    at: usize,
    place: &str,
) -> Result<Vec<Type>> {
    match current {
        Some(types) if types != incoming => Err(DecodeError::invalid(
            at,
            format!("{place}: paths reach it with different stacks"),
        )),
        _ => Ok(incoming),
    }
}

fn verify_inputs(module: &Module, unit: &ExprUnit, at: usize, place: &str) -> Result<()> {
    for pair in unit.inputs.windows(2) {
        if let [a, b] = pair
            && a >= b
        {
            return Err(DecodeError::invalid(
                at,
                format!("{place}: inputs are not sorted without repeats"),
            ));
        }
    }
    for input in &unit.inputs {
        match input {
            Input::Slot(slot) => {
                slot_type(module, at, *slot)?;
            }
            Input::Clock(schedule) if schedule.0 as usize >= module.schedules.len() => {
                return Err(out_of_range(
                    at,
                    "schedule",
                    schedule.0,
                    module.schedules.len(),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks the indices and constant kinds of one unit instruction, and that
/// what it reads is among the unit's inputs.
fn check_unit_operands(
    module: &Module,
    unit: &ExprUnit,
    op: UnitOp,
    at: usize,
    place: &str,
) -> Result<()> {
    let declared = |input: Input| {
        if unit.inputs.binary_search(&input).is_ok() {
            Ok(())
        } else {
            Err(DecodeError::invalid(
                at,
                format!("{place} reads {input:?}, which is not among the unit's inputs"),
            ))
        }
    };
    match op {
        UnitOp::Const(c) => value_const(module, at, c).map(drop),
        UnitOp::Load(s) => {
            slot_type(module, at, s)?;
            declared(Input::Slot(s))
        }
        UnitOp::Builtin(b) => declared(Input::Builtin(b)),
        UnitOp::Field { name, .. } => operand_const(module, at, name, "name"),
        UnitOp::Open(h) | UnitOp::Holiday(h) | UnitOp::Today(h) | UnitOp::Now(h) => {
            if h.0 as usize >= module.schedules.len() {
                return Err(out_of_range(at, "schedule", h.0, module.schedules.len()));
            }
            declared(Input::Clock(h))
        }
        _ => Ok(()),
    }
}

/// Applies the stack effect of a unit instruction without a jump.
fn apply_unit_op(module: &Module, op: UnitOp, stack: &mut Stack<'_>) -> Result<()> {
    match op {
        UnitOp::Const(c) => {
            let ty = value_const(module, stack.at, c)?;
            stack.push(ty)
        }
        UnitOp::Bool(_) => stack.push(Type::Bool),
        UnitOp::Load(s) => {
            let ty = slot_type(module, stack.at, s)?;
            stack.push(ty)
        }
        UnitOp::Builtin(b) => stack.push(b.ty()),
        UnitOp::Field { ty, .. } => {
            if ty == Type::Contact {
                return Err(stack.error("a contact field cannot hold a contact"));
            }
            stack.pop(Type::Contact)?;
            stack.push(ty)
        }
        UnitOp::IsFound | UnitOp::IsMissing => {
            stack.pop(Type::Contact)?;
            stack.push(Type::Bool)
        }
        UnitOp::Not => {
            stack.pop(Type::Bool)?;
            stack.push(Type::Bool)
        }
        UnitOp::Neg => {
            stack.pop(Type::Int)?;
            stack.push(Type::Int)
        }
        UnitOp::Arith { op, ty } => apply_arith(op, ty, stack),
        UnitOp::Compare { op, ty } => apply_compare(op, ty, stack),
        UnitOp::StartsWith => {
            stack.pop_text()?;
            stack.pop_text()?;
            stack.push(Type::Bool)
        }
        UnitOp::Concat => {
            stack.pop_text()?;
            stack.pop_text()?;
            stack.push(Type::Text)
        }
        UnitOp::ToText(ty) => {
            if ty == Type::Contact {
                return Err(stack.error("a contact cannot be turned into text"));
            }
            stack.pop(ty)?;
            stack.push(Type::Text)
        }
        UnitOp::Length => {
            stack.pop_text()?;
            stack.push(Type::Int)
        }
        UnitOp::Open(_) | UnitOp::Holiday(_) => stack.push(Type::Bool),
        UnitOp::Today(_) => stack.push(Type::Date),
        UnitOp::Now(_) => stack.push(Type::Time),
        UnitOp::Jump(_)
        | UnitOp::JumpIfNot(_)
        | UnitOp::JumpIfFalseOrPop(_)
        | UnitOp::JumpIfTrueOrPop(_) => Ok(()),
    }
}

fn apply_arith(op: ArithOp, ty: Type, stack: &mut Stack<'_>) -> Result<()> {
    match (ty, op) {
        (Type::Int, _) => {
            stack.pop(Type::Int)?;
            stack.pop(Type::Int)?;
        }
        (Type::Duration, ArithOp::Add | ArithOp::Sub) => {
            stack.pop(Type::Duration)?;
            stack.pop(Type::Duration)?;
        }
        (Type::Duration, ArithOp::Mul | ArithOp::Div) => {
            stack.pop(Type::Int)?;
            stack.pop(Type::Duration)?;
        }
        _ => {
            return Err(stack.error(format!(
                "`{}` is not defined on {}",
                op.as_str(),
                ty.as_str()
            )));
        }
    }
    stack.push(ty)
}

fn apply_compare(op: CmpOp, ty: Type, stack: &mut Stack<'_>) -> Result<()> {
    let equality = matches!(op, CmpOp::Eq | CmpOp::Ne);
    match ty {
        Type::Text if equality => {
            stack.pop_text()?;
            stack.pop_text()?;
        }
        Type::Bool if equality => {
            stack.pop(Type::Bool)?;
            stack.pop(Type::Bool)?;
        }
        Type::Int | Type::Duration | Type::Date | Type::Time => {
            stack.pop(ty)?;
            stack.pop(ty)?;
        }
        _ => {
            return Err(stack.error(format!(
                "comparison `{}` is not defined on {}",
                op.as_str(),
                ty.as_str()
            )));
        }
    }
    stack.push(Type::Bool)
}

/// Verifies one code block.
struct BlockChecker<'a> {
    module: &'a Module,
    index: usize,
    kind: &'a BlockKind,
    code: &'a [Instr],
    offsets: &'a [usize],
    start: usize,
}

impl BlockChecker<'_> {
    fn at(&self, i: usize) -> usize {
        self.offsets.get(i).copied().unwrap_or(self.start)
    }

    fn place(&self, i: usize) -> String {
        format!("block {}, instruction {i}", self.index)
    }

    fn verify(&self) -> Result<()> {
        if self.code.is_empty() {
            return Err(DecodeError::invalid(
                self.start,
                format!("block {} has no instructions", self.index),
            ));
        }
        for (i, instr) in self.code.iter().enumerate() {
            self.check_operands(i, instr)?;
        }
        let mut states: Vec<Option<Vec<Type>>> = vec![None; self.code.len()];
        if let Some(first) = states.first_mut() {
            *first = Some(Vec::new());
        }
        let mut work = vec![0];
        while let Some(i) = work.pop() {
            let Some(types) = states.get(i).cloned().flatten() else {
                continue;
            };
            for (next, types) in self.successors(i, types)? {
                let at = self.at(i);
                let Some(state) = states.get_mut(next) else {
                    return Err(DecodeError::invalid(
                        at,
                        format!(
                            "{}: execution runs past the end of the block",
                            self.place(i)
                        ),
                    ));
                };
                match state {
                    None => {
                        *state = Some(types);
                        work.push(next);
                    }
                    Some(existing) if *existing == types => {}
                    Some(_) => {
                        return Err(DecodeError::invalid(
                            self.at(next),
                            format!("{}: paths reach it with different stacks", self.place(next)),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks indices, constant kinds, block kinds and jump targets.
    fn check_operands(&self, i: usize, instr: &Instr) -> Result<()> {
        let module = self.module;
        let at = self.at(i);
        let place = self.place(i);
        if let Some(target) = instr.target()
            && target as usize >= self.code.len()
        {
            return Err(DecodeError::invalid(
                at,
                format!(
                    "{place}: jump target {target} is outside the block ({} instructions)",
                    self.code.len()
                ),
            ));
        }
        match instr {
            Instr::PushConst(c) => value_const(module, at, *c).map(drop),
            Instr::Load(s) | Instr::Store(s) => slot_type(module, at, *s).map(drop),
            Instr::Inc(s) | Instr::JumpIfBelow { slot: s, .. } => {
                if slot_type(module, at, *s)? == Type::Int {
                    Ok(())
                } else {
                    Err(DecodeError::invalid(
                        at,
                        format!("{place}: slot {} is not an integer", s.0),
                    ))
                }
            }
            Instr::Probe(p) => probe_id(module, at, *p),
            Instr::ProbeContact {
                slot,
                found,
                missing,
            } => {
                probe_id(module, at, *found)?;
                probe_id(module, at, *missing)?;
                if slot_type(module, at, *slot)? == Type::Contact {
                    Ok(())
                } else {
                    Err(DecodeError::invalid(
                        at,
                        format!("{place}: slot {} is not a contact", slot.0),
                    ))
                }
            }
            Instr::Eval(u) if module.unit(*u).is_none() => {
                Err(out_of_range(at, "unit", u.0, module.units.len()))
            }
            Instr::JumpIfEqual { value: c, .. } | Instr::JumpIfPrefix { prefix: c, .. } => {
                match constant(module, at, *c)? {
                    Const::Text(_) | Const::Digits(_) => Ok(()),
                    other => Err(DecodeError::invalid(
                        at,
                        format!(
                            "{place}: constant {} is a {}, expected text",
                            c.0,
                            other.kind_name()
                        ),
                    )),
                }
            }
            Instr::Goto(b) | Instr::Run(b) => self.check_block_target(i, instr, *b),
            Instr::Play(prompts) => {
                if prompts.is_empty() {
                    return Err(DecodeError::invalid(
                        at,
                        format!("{place}: play without prompts"),
                    ));
                }
                prompts
                    .iter()
                    .try_for_each(|p| operand_const(module, at, *p, "prompt"))
            }
            Instr::CollectDigits { min, max, .. } if min > max || *max == 0 => Err(
                DecodeError::invalid(at, format!("{place}: digit length {min}..{max} is empty")),
            ),
            Instr::Lookup { source: c, .. }
            | Instr::Voicemail(c)
            | Instr::Webhook(c)
            | Instr::Notify(c) => operand_const(module, at, *c, "name"),
            Instr::Enqueue { queue, .. } if queue.0 as usize >= module.queues.len() => {
                Err(out_of_range(at, "queue", queue.0, module.queues.len()))
            }
            Instr::Survey { question, thanks } => {
                operand_const(module, at, *question, "prompt")?;
                thanks.map_or(Ok(()), |t| operand_const(module, at, t, "prompt"))
            }
            Instr::Return if !matches!(self.kind, BlockKind::Subflow(_)) => Err(
                DecodeError::invalid(at, format!("{place}: `return` outside a sub-flow block")),
            ),
            _ => Ok(()),
        }
    }

    fn check_block_target(&self, i: usize, instr: &Instr, block: super::BlockId) -> Result<()> {
        let module = self.module;
        let at = self.at(i);
        let Some(found) = module.block(block) else {
            return Err(out_of_range(at, "block", block.0, module.blocks.len()));
        };
        let ok = match instr {
            Instr::Run(_) => matches!(found.kind, BlockKind::Subflow(_)),
            _ => matches!(found.kind, BlockKind::Step(_) | BlockKind::Overflow(_)),
        };
        if ok {
            Ok(())
        } else {
            Err(DecodeError::invalid(
                at,
                format!(
                    "{}: block {} cannot be entered this way ({:?})",
                    self.place(i),
                    block.0,
                    found.kind
                ),
            ))
        }
    }

    /// Returns where execution goes after instruction `i` and the stack it
    /// brings there.
    fn successors(&self, i: usize, types: Vec<Type>) -> Result<Vec<(usize, Vec<Type>)>> {
        let place = self.place(i);
        let mut stack = Stack {
            types,
            at: self.at(i),
            place: &place,
            limit: MAX_CODE_STACK,
        };
        let Some(instr) = self.code.get(i) else {
            return Ok(Vec::new());
        };
        let next = i + 1;
        let module = self.module;
        match instr {
            Instr::PushConst(c) => {
                let ty = value_const(module, stack.at, *c)?;
                stack.push(ty)?;
            }
            Instr::PushBool(_) => stack.push(Type::Bool)?,
            Instr::Load(s) => {
                let ty = slot_type(module, stack.at, *s)?;
                stack.push(ty)?;
            }
            Instr::Store(s) => {
                let ty = slot_type(module, stack.at, *s)?;
                stack.pop(ty)?;
            }
            Instr::Pop => {
                stack.pop_where("a value", |_| true)?;
            }
            Instr::Eval(u) => {
                let ty = module.unit(*u).map_or(Type::Bool, |u| u.result);
                stack.push(ty)?;
            }
            Instr::Inc(_) | Instr::Answer | Instr::Record(_) | Instr::Survey { .. } => {}
            Instr::Probe(_) | Instr::ProbeContact { .. } => {}
            Instr::Webhook(_) | Instr::Play(_) => {}
            Instr::Jump(t) => return Ok(vec![(*t as usize, stack.types)]),
            Instr::JumpIf(t) | Instr::JumpIfNot(t) => {
                stack.pop(Type::Bool)?;
                return Ok(vec![
                    (*t as usize, stack.types.clone()),
                    (next, stack.types),
                ]);
            }
            Instr::JumpIfBelow { target, .. } => {
                return Ok(vec![
                    (*target as usize, stack.types.clone()),
                    (next, stack.types),
                ]);
            }
            Instr::JumpIfKey { target, .. } | Instr::JumpIfNoInput(target) => {
                stack.peek_where("digits", |t| t == Type::Digits)?;
                return Ok(peek_branch(*target, next, stack.types));
            }
            Instr::JumpIfEqual { target, .. } | Instr::JumpIfPrefix { target, .. } => {
                stack.peek_where("text, digits or language", Type::is_text_like)?;
                return Ok(peek_branch(*target, next, stack.types));
            }
            Instr::Goto(_) | Instr::Return | Instr::End | Instr::Hangup | Instr::Voicemail(_) => {
                stack.expect_empty()?;
                return Ok(Vec::new());
            }
            Instr::Transfer => {
                stack.pop_text()?;
                stack.expect_empty()?;
                return Ok(Vec::new());
            }
            Instr::Run(_) => stack.expect_empty()?,
            Instr::CollectKey { .. } | Instr::CollectDigits { .. } => stack.push(Type::Digits)?,
            Instr::Lookup { on_failure, .. } => {
                stack.pop_text()?;
                stack.push(Type::Contact)?;
                return Ok(vec![
                    (*on_failure as usize, stack.types.clone()),
                    (next, stack.types),
                ]);
            }
            Instr::Enqueue { on_overflow, .. } => {
                stack.expect_empty()?;
                return Ok(vec![
                    (*on_overflow as usize, Vec::new()),
                    (next, Vec::new()),
                ]);
            }
            Instr::SetLanguage | Instr::Tag | Instr::Timeline | Instr::Notify(_) => {
                stack.pop_text()?
            }
            Instr::Ticket(mode) => {
                if *mode != super::TicketMode::Link {
                    stack.pop_text()?;
                }
            }
        }
        Ok(vec![(next, stack.types)])
    }
}

/// Successors of a peek instruction: the target without the top value, the
/// next instruction with it.
fn peek_branch(target: u32, next: usize, types: Vec<Type>) -> Vec<(usize, Vec<Type>)> {
    let mut popped = types.clone();
    popped.pop();
    vec![(target as usize, popped), (next, types)]
}
