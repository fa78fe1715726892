//! The run loop: code instructions, effects and the replies that resume
//! them.

use super::reply::{Next, Pending};
use super::value::{from_const, mask};
use super::{Call, Effect, Event, Outcome, Reply, RunError, TraceLevel, Value};
use crate::bytecode::{BlockId, Const, ConstId, Instr, Key, Module, Position, SlotId, TicketMode};
use std::sync::Arc;

/// The stage of a call.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum State {
    /// Created; waits for [`Reply::Start`].
    New,
    /// Runs `on call` or a step or sub-flow entered from it.
    OnCall,
    /// Runs `after call`.
    AfterCall,
    /// Over; every resume returns [`Effect::Finished`].
    Finished,
    /// Stopped by a fault; every resume returns the fault.
    Failed(RunError),
}

/// A running block and the next instruction in it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Frame {
    block: usize,
    pc: usize,
}

impl Call {
    /// Starts the call or applies a reply, then runs to the next effect.
    pub(super) fn step(&mut self, reply: Reply) -> Result<Effect, RunError> {
        if self.state == State::New {
            if reply != Reply::Start {
                return Err(self.wrong_reply("the start of the call", &reply));
            }
            let on_call = self.program.on_call;
            self.state = State::OnCall;
            self.frames.push(Frame {
                block: on_call,
                pc: 0,
            });
            return self.run();
        }
        let Some(pending) = self.pending.take() else {
            return Err(self.invalid("the call waits on no effect"));
        };
        match self.apply(pending, reply)? {
            Next::Run => {}
            Next::EndHandler => {
                if let Some(effect) = self.end_handler() {
                    return Ok(effect);
                }
            }
        }
        self.run()
    }

    pub(super) fn jump(&mut self, target: usize) {
        if let Some(frame) = self.frames.last_mut() {
            frame.pc = target;
        }
    }

    /// Ends the running handler. After `on call`, `after call` starts and
    /// `None` is returned; otherwise the call is finished.
    fn end_handler(&mut self) -> Option<Effect> {
        self.stack.clear();
        self.frames.clear();
        if self.state == State::OnCall {
            let outcome = self.ending.unwrap_or(Outcome::Hangup);
            self.outcome = Some(outcome);
            self.typed_ahead.clear();
            self.record(TraceLevel::Path, || Event::CallEnded(outcome));
            if let Some(after) = self.program.after_call {
                self.state = State::AfterCall;
                self.frames.push(Frame {
                    block: after,
                    pc: 0,
                });
                return None;
            }
        }
        self.state = State::Finished;
        let outcome = self.outcome.unwrap_or(Outcome::Hangup);
        Some(self.effect(Effect::Finished { outcome }, None))
    }

    /// Records an effect and what its reply needs, and returns it.
    fn effect(&mut self, effect: Effect, pending: Option<Pending>) -> Effect {
        self.pending = pending;
        self.record(TraceLevel::Path, || Event::Effect(effect.clone()));
        effect
    }

    /// Counts instructions against the budget of this resume.
    pub(super) fn spend(&mut self, count: u32) -> Result<(), RunError> {
        self.spent = self.spent.saturating_add(count);
        self.instructions = self.instructions.saturating_add(u64::from(count));
        if self.spent > self.options.budget {
            return Err(RunError::Budget {
                flow: self.program.module.flow.clone(),
                budget: self.options.budget,
                place: self.place(),
            });
        }
        Ok(())
    }

    /// Runs instructions until the next effect.
    fn run(&mut self) -> Result<Effect, RunError> {
        let program = Arc::clone(&self.program);
        let module = &program.module;
        loop {
            let Some(frame) = self.frames.last_mut() else {
                return Err(self.invalid("no block is running"));
            };
            let (block, pc) = (frame.block, frame.pc);
            frame.pc += 1;
            self.last_run = (block, pc);
            let Some(instr) = module.blocks.get(block).and_then(|b| b.code.get(pc)) else {
                return Err(self.invalid("execution ran past the end of the block"));
            };
            self.spend(1)?;
            if let Some(effect) = self.exec(module, instr, block, pc)? {
                return Ok(effect);
            }
        }
    }

    /// Executes one instruction; returns the effect when it is one, or
    /// when the call finished.
    fn exec(
        &mut self,
        module: &Module,
        instr: &Instr,
        block: usize,
        pc: usize,
    ) -> Result<Option<Effect>, RunError> {
        match instr {
            Instr::PushConst(c) => {
                let value = self.constant_value(module, *c)?;
                self.stack.push(value);
            }
            Instr::PushBool(b) => self.stack.push(Value::Bool(*b)),
            Instr::Load(s) => {
                let value = self.slot_value(*s)?.clone();
                self.stack.push(value);
            }
            Instr::Store(s) => {
                let value = match self.pop()? {
                    Value::NoInput => Value::Digits(String::new()),
                    value => value,
                };
                self.store(module, *s, value)?;
            }
            Instr::Pop => {
                self.pop()?;
            }
            Instr::Eval(u) => {
                let value = self.eval(module, *u)?;
                self.stack.push(value);
            }
            Instr::Inc(s) => {
                let next = match self.slot_value(*s)? {
                    Value::Int(v) => v.wrapping_add(1),
                    _ => return Err(self.invalid("`inc` needs an integer slot")),
                };
                self.store(module, *s, Value::Int(next))?;
            }
            Instr::Probe(p) => {
                let probe = *p;
                self.record(TraceLevel::Path, || Event::Probe(probe));
            }
            Instr::ProbeContact {
                slot,
                found,
                missing,
            } => {
                let probe = match self.slot_value(*slot)? {
                    Value::Contact(Some(_)) => *found,
                    _ => *missing,
                };
                self.record(TraceLevel::Path, || Event::Probe(probe));
            }
            Instr::Jump(t) => self.jump(*t as usize),
            Instr::JumpIf(t) | Instr::JumpIfNot(t) => {
                let wanted = matches!(instr, Instr::JumpIf(_));
                match self.pop()? {
                    Value::Bool(b) if b == wanted => self.jump(*t as usize),
                    Value::Bool(_) => {}
                    _ => return Err(self.invalid("a conditional jump found no bool")),
                }
            }
            Instr::JumpIfBelow {
                slot,
                limit,
                target,
            } => match self.slot_value(*slot)? {
                Value::Int(v) if *v < i64::from(*limit) => self.jump(*target as usize),
                Value::Int(_) => {}
                _ => return Err(self.invalid("`jump_if_below` needs an integer slot")),
            },
            Instr::JumpIfKey { key, target } => {
                let hit =
                    matches!(self.stack.last(), Some(Value::Digits(s)) if is_one_key(s, *key));
                self.pop_and_jump_if(hit, *target);
            }
            Instr::JumpIfNoInput(t) => {
                let hit = matches!(self.stack.last(), Some(Value::NoInput));
                self.pop_and_jump_if(hit, *t);
            }
            Instr::JumpIfEqual { value, target }
            | Instr::JumpIfPrefix {
                prefix: value,
                target,
            } => {
                let Some(Const::Text(pattern) | Const::Digits(pattern)) = module.constant(*value)
                else {
                    return Err(self.invalid("a match pattern is not a text"));
                };
                let Some(subject) = self.stack.last().and_then(Value::as_text) else {
                    return Err(self.invalid("`match` found no text"));
                };
                let hit = match instr {
                    Instr::JumpIfEqual { .. } => subject == pattern,
                    _ => subject.starts_with(pattern.as_str()),
                };
                self.pop_and_jump_if(hit, *target);
            }
            Instr::Goto(b) => {
                self.stack.clear();
                let target = self.block_index(module, *b)?;
                if let Some(frame) = self.frames.last_mut() {
                    *frame = Frame {
                        block: target,
                        pc: 0,
                    };
                }
            }
            Instr::Run(b) => {
                // The handler's own frame is below the sub-flows' frames.
                if self.frames.len() > super::MAX_RUN_DEPTH {
                    return Err(RunError::RunDepth {
                        flow: module.flow.clone(),
                        place: self.place(),
                    });
                }
                let target = self.block_index(module, *b)?;
                self.frames.push(Frame {
                    block: target,
                    pc: 0,
                });
            }
            Instr::Return => {
                self.frames.pop();
                if self.frames.is_empty() {
                    return Ok(self.end_handler());
                }
            }
            Instr::End => return Ok(self.end_handler()),
            _ => return self.exec_effect(module, instr, block, pc),
        }
        Ok(None)
    }

    /// Executes an instruction that needs the outside world, or changes
    /// the language. Returns `None` when the call runs on: the language
    /// changed, or keys typed ahead answered a collect.
    fn exec_effect(
        &mut self,
        module: &Module,
        instr: &Instr,
        block: usize,
        pc: usize,
    ) -> Result<Option<Effect>, RunError> {
        let done = |name| Some(Pending::Done(name));
        Ok(Some(match instr {
            Instr::Answer => self.effect(Effect::Answer, done("answer")),
            Instr::Play(prompts) => {
                let mut names = Vec::with_capacity(prompts.len());
                for prompt in prompts {
                    names.push(self.name(module, *prompt)?);
                }
                let next = next_input(module, block, pc);
                if next.is_some() && !self.typed_ahead.is_empty() {
                    // The caller already answered: skip the input's prompts.
                    return Ok(None);
                }
                let effect = Effect::Play {
                    prompts: names,
                    language: self.language.clone(),
                    barge_in: next.is_some(),
                };
                let mask = next == Some(true);
                self.effect(effect, Some(Pending::Play { mask }))
            }
            Instr::CollectKey { timeout_ms } => {
                if !self.typed_ahead.is_empty() {
                    let key = self.typed_ahead.remove(0).to_string();
                    self.record(TraceLevel::Path, || Event::TypeAhead(key.clone()));
                    self.stack.push(Value::Digits(key));
                    return Ok(None);
                }
                let effect = Effect::CollectKey {
                    timeout_ms: *timeout_ms,
                };
                self.effect(effect, Some(Pending::CollectKey))
            }
            Instr::CollectDigits {
                min,
                max,
                terminator,
                timeout_ms,
                interdigit_ms,
                sensitive,
            } => {
                if let Some(digits) = self.typed_digits(*max, terminator.as_char()) {
                    let shown = if *sensitive {
                        mask(&digits)
                    } else {
                        digits.clone()
                    };
                    self.record(TraceLevel::Path, || Event::TypeAhead(shown));
                    self.stack.push(Value::Digits(digits));
                    return Ok(None);
                }
                let typed = std::mem::take(&mut self.typed_ahead);
                let effect = Effect::CollectDigits {
                    min: *min,
                    max: *max,
                    terminator: terminator.as_char(),
                    timeout_ms: *timeout_ms,
                    interdigit_ms: *interdigit_ms,
                    sensitive: *sensitive,
                    typed: if *sensitive {
                        mask(&typed)
                    } else {
                        typed.clone()
                    },
                };
                let pending = Pending::CollectDigits {
                    sensitive: *sensitive,
                    typed,
                };
                self.effect(effect, Some(pending))
            }
            Instr::Lookup {
                source,
                timeout_ms,
                on_failure,
            } => {
                let key = self.pop_text()?;
                let effect = Effect::Lookup {
                    source: self.name(module, *source)?,
                    key,
                    timeout_ms: *timeout_ms,
                };
                let pending = Pending::Lookup {
                    on_failure: *on_failure as usize,
                };
                self.effect(effect, Some(pending))
            }
            Instr::Enqueue { queue, on_overflow } => {
                let Some(found) = module.queues.get(queue.0 as usize) else {
                    return Err(self.invalid(format!("queue {} does not exist", queue.0)));
                };
                let priority = match found.priority {
                    Some(unit) => match self.eval(module, unit)? {
                        Value::Int(p) => p,
                        _ => return Err(self.invalid("a queue priority is not an integer")),
                    },
                    None => 0,
                };
                let effect = Effect::Enqueue {
                    queue: *queue,
                    name: found.name.clone(),
                    priority,
                    language: self.language.clone(),
                };
                let pending = Pending::Enqueue {
                    name: found.name.clone(),
                    on_overflow: *on_overflow as usize,
                };
                self.effect(effect, Some(pending))
            }
            Instr::Transfer => {
                let target = self.pop_text()?;
                let pending = Pending::Ending(Outcome::Transferred);
                self.effect(Effect::Transfer { target }, Some(pending))
            }
            Instr::Voicemail(mailbox) => {
                let effect = Effect::Voicemail {
                    mailbox: self.name(module, *mailbox)?,
                    language: self.language.clone(),
                };
                self.effect(effect, Some(Pending::Ending(Outcome::Voicemail)))
            }
            Instr::Hangup => self.effect(Effect::Hangup, Some(Pending::Ending(Outcome::Hangup))),
            Instr::SetLanguage => {
                let language = self.pop_text()?;
                if module.languages.contains(&language) {
                    self.language.clone_from(&language);
                    self.record(TraceLevel::Path, || Event::Language(language));
                } else {
                    self.record(TraceLevel::Path, || Event::UnknownLanguage(language));
                }
                return Ok(None);
            }
            Instr::Record(mode) => self.effect(Effect::Record(*mode), done("record")),
            Instr::Tag => {
                let tag = self.pop_text()?;
                self.tags.push(tag.clone());
                self.effect(Effect::Tag(tag), done("tag"))
            }
            Instr::Timeline => {
                let entry = self.pop_text()?;
                self.effect(Effect::Timeline(entry), done("timeline"))
            }
            Instr::Ticket(mode) => {
                let subject = match mode {
                    TicketMode::Link => None,
                    _ => Some(self.pop_text()?),
                };
                let effect = Effect::Ticket {
                    mode: *mode,
                    subject,
                };
                self.effect(effect, done("ticket"))
            }
            Instr::Survey { question, thanks } => {
                let thanks = match thanks {
                    Some(t) => Some(self.name(module, *t)?),
                    None => None,
                };
                let effect = Effect::Survey {
                    question: self.name(module, *question)?,
                    thanks,
                    language: self.language.clone(),
                };
                self.effect(effect, Some(Pending::Survey))
            }
            Instr::Webhook(hook) => {
                let effect = Effect::Webhook {
                    hook: self.name(module, *hook)?,
                };
                self.effect(effect, done("webhook"))
            }
            Instr::Notify(hook) => {
                let message = self.pop_text()?;
                let effect = Effect::Notify {
                    hook: self.name(module, *hook)?,
                    message,
                };
                self.effect(effect, done("notify"))
            }
            _ => return Err(self.invalid("an instruction reached the effect step")),
        }))
    }

    /// Takes a complete input from the keys typed ahead: up to the
    /// terminator (dropped) or `max` digits. Returns `None` and keeps the
    /// keys when they are not complete yet.
    fn typed_digits(&mut self, max: u32, terminator: char) -> Option<String> {
        if self.typed_ahead.is_empty() {
            return None;
        }
        let max = max as usize;
        let keys: Vec<char> = self.typed_ahead.chars().collect();
        if let Some(end) = keys.iter().position(|c| *c == terminator)
            && end <= max
        {
            let digits: String = keys.iter().take(end).collect();
            self.typed_ahead = keys.iter().skip(end + 1).collect();
            return Some(digits);
        }
        if keys.len() >= max {
            let digits: String = keys.iter().take(max).collect();
            self.typed_ahead = keys.iter().skip(max).collect();
            return Some(digits);
        }
        None
    }

    fn pop_and_jump_if(&mut self, hit: bool, target: u32) {
        if hit {
            self.stack.pop();
            self.jump(target as usize);
        }
    }

    fn pop(&mut self) -> Result<Value, RunError> {
        match self.stack.pop() {
            Some(value) => Ok(value),
            None => Err(self.invalid("an instruction popped an empty stack")),
        }
    }

    fn pop_text(&mut self) -> Result<String, RunError> {
        match self.pop()? {
            Value::Text(s) | Value::Digits(s) | Value::Language(s) => Ok(s),
            _ => Err(self.invalid("expected text on the stack")),
        }
    }

    fn constant_value(&self, module: &Module, id: ConstId) -> Result<Value, RunError> {
        match module.constant(id).and_then(from_const) {
            Some(value) => Ok(value),
            None => Err(self.invalid(format!("constant {} is not a value", id.0))),
        }
    }

    /// Returns a prompt or name constant's text.
    fn name(&self, module: &Module, id: ConstId) -> Result<String, RunError> {
        match module.constant(id) {
            Some(Const::Prompt(s) | Const::Name(s)) => Ok(s.clone()),
            _ => Err(self.invalid(format!("constant {} is not a name", id.0))),
        }
    }

    fn block_index(&self, module: &Module, id: BlockId) -> Result<usize, RunError> {
        match module.block(id) {
            Some(_) => Ok(id.0 as usize),
            None => Err(self.invalid(format!("block {} does not exist", id.0))),
        }
    }

    pub(super) fn slot_value(&self, id: SlotId) -> Result<&Value, RunError> {
        self.slots
            .get(id.0 as usize)
            .ok_or_else(|| self.invalid(format!("slot {} does not exist", id.0)))
    }

    fn store(&mut self, module: &Module, id: SlotId, value: Value) -> Result<(), RunError> {
        if self.options.trace == TraceLevel::Full
            && let Some(slot) = module.slot(id)
            && !slot.hidden
        {
            let shown = if slot.sensitive {
                value.masked()
            } else {
                value.clone()
            };
            self.trace.push(Event::Set {
                slot: id,
                value: shown,
            });
        }
        match self.slots.get_mut(id.0 as usize) {
            Some(slot) => {
                *slot = value;
                Ok(())
            }
            None => Err(self.invalid(format!("slot {} does not exist", id.0))),
        }
    }

    /// Returns a fault of this call at the current instruction.
    pub(super) fn invalid(&self, message: impl Into<String>) -> RunError {
        RunError::Invalid {
            flow: self.program.module.flow.clone(),
            place: self.place(),
            message: message.into(),
        }
    }

    /// Returns where the call is: `file:line:column` of the statement of
    /// the last instruction run, or the block and instruction when the
    /// block has no line table entry for it.
    pub(super) fn place(&self) -> String {
        let (block, pc) = self.last_run;
        match self.position() {
            Some(at) => crate::bytecode::show_position(&self.program.module, at),
            None => format!("block {block} instruction {pc}"),
        }
    }

    /// Returns the position of the statement of the last instruction run:
    /// while the call waits on an effect, the statement that asked for it.
    /// `None` before the call starts and for instructions that the line
    /// table does not cover.
    pub fn position(&self) -> Option<Position> {
        if self.state == State::New {
            return None;
        }
        let (block, pc) = self.last_run;
        self.program
            .module
            .blocks
            .get(block)?
            .lines
            .iter()
            .take_while(|e| e.instr as usize <= pc)
            .last()
            .map(|e| e.at)
    }

    /// Adds an event when the trace level is at least `level`.
    pub(super) fn record(&mut self, level: TraceLevel, event: impl FnOnce() -> Event) {
        if self.options.trace >= level && self.options.trace != TraceLevel::Off {
            self.trace.push(event());
        }
    }
}

fn is_one_key(text: &str, key: Key) -> bool {
    let mut chars = text.chars();
    chars.next() == Some(key.as_char()) && chars.next().is_none()
}

/// Looks past probes after the instruction at `pc`: `Some(sensitive)` when
/// the next instruction waits for input, `None` otherwise.
fn next_input(module: &Module, block: usize, pc: usize) -> Option<bool> {
    let code = &module.blocks.get(block)?.code;
    let next = code
        .iter()
        .skip(pc + 1)
        .find(|i| !matches!(i, Instr::Probe(_) | Instr::ProbeContact { .. }))?;
    match next {
        Instr::CollectKey { .. } => Some(false),
        Instr::CollectDigits { sensitive, .. } => Some(*sensitive),
        _ => None,
    }
}
