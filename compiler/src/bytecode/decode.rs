//! Reading bytes back into a [`Module`], checking every byte on the way.
//!
//! The reader checks the structure: magic, version, checksum, lengths, tags
//! and UTF-8. A list count is checked against the bytes left before anything
//! is allocated, so a forged count cannot ask for a huge buffer. The
//! verifier in `verify` then checks every index, jump target and type, with
//! the byte offsets the reader recorded.

use super::encode::{RECORD_MODES, STRATEGIES, TICKET_MODES, op, probe_tag, unit_op};
use super::verify::{self, Offsets};
use super::{
    AnnounceKind, Announcement, ArithOp, Block, BlockId, BlockKind, Builtin, CallbackOffer, CmpOp,
    Const, ConstId, Date, DateRange, ExprUnit, FORMAT_VERSION, Input, Instr, Key, LineEntry, MAGIC,
    MinuteRange, Module, Position, Probe, ProbeId, ProbeOutcome, Queue, QueueId, QueueNeed,
    RelaxStep, Schedule, ScheduleException, ScheduleId, ServiceTarget, Slot, SlotId, Type, UnitId,
    UnitOp,
};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The reason bytes are not a valid module. Every variant names the byte
/// offset where the problem was found.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input does not start with `TOKB`.
    #[error("not Tok bytecode: the input starts with {found:?}, expected \"TOKB\" at byte 0")]
    BadMagic {
        /// The first bytes found, escaped.
        found: String,
    },
    /// The input was written by a newer compiler.
    #[error(
        "bytecode format version {found} is newer than version {supported}, the newest this \
         build reads; use a newer flowc or rebuild the flow with this one"
    )]
    NewerVersion {
        /// The version in the input.
        found: u16,
        /// The newest version this build reads.
        supported: u16,
    },
    /// The version is older than any this build reads.
    #[error(
        "bytecode format version {found} is not supported; this build reads version \
         {supported}; rebuild the flow"
    )]
    OlderVersion {
        /// The version in the input.
        found: u16,
        /// The version this build reads.
        supported: u16,
    },
    /// The input ends before a value is complete.
    #[error("bytecode truncated at byte {offset}: {what} needs {needed} bytes, {available} remain")]
    Truncated {
        /// Byte offset of the value.
        offset: usize,
        /// The value being read.
        what: &'static str,
        /// Bytes the value needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// The checksum at the end does not match the content.
    #[error(
        "bytecode checksum at byte {offset} does not match the content: the file is truncated \
         or corrupted; rebuild it"
    )]
    ChecksumMismatch {
        /// Byte offset of the checksum.
        offset: usize,
    },
    /// A list count larger than the rest of the input can hold.
    #[error(
        "at byte {offset}: {what} count {count} is more than the remaining {remaining} bytes \
         can hold"
    )]
    TooLong {
        /// Byte offset of the count.
        offset: usize,
        /// The items counted.
        what: &'static str,
        /// The count.
        count: u32,
        /// Bytes left after the count.
        remaining: usize,
    },
    /// A text that is not UTF-8.
    #[error("at byte {offset}: {what} is not valid UTF-8")]
    InvalidUtf8 {
        /// Byte offset of the text.
        offset: usize,
        /// The text's role.
        what: &'static str,
    },
    /// A tag or opcode with no meaning.
    #[error("at byte {offset}: unknown {what} tag {tag:#04x}")]
    UnknownTag {
        /// Byte offset of the tag.
        offset: usize,
        /// The kind of item the tag selects.
        what: &'static str,
        /// The tag.
        tag: u8,
    },
    /// An index past the end of the table it refers to.
    #[error("at byte {offset}: {what} {index} is out of range: {len} defined")]
    IndexOutOfRange {
        /// Byte offset of the index.
        offset: usize,
        /// The table the index refers to.
        what: &'static str,
        /// The index.
        index: u32,
        /// Entries in the table.
        len: usize,
    },
    /// A value that is well-formed but wrong: a bad date, a jump out of the
    /// block, a type that does not fit.
    #[error("at byte {offset}: {message}")]
    Invalid {
        /// Byte offset of the problem.
        offset: usize,
        /// Description of the problem.
        message: String,
    },
    /// Bytes between the last section and the checksum.
    #[error("at byte {offset}: {count} unexpected bytes after the last section")]
    TrailingBytes {
        /// Byte offset of the first one.
        offset: usize,
        /// How many.
        count: usize,
    },
}

impl DecodeError {
    /// Creates an [`DecodeError::Invalid`].
    pub(super) fn invalid(offset: usize, message: impl Into<String>) -> Self {
        DecodeError::Invalid {
            offset,
            message: message.into(),
        }
    }
}

const HEADER_LEN: usize = MAGIC.len() + 2;
const CHECKSUM_LEN: usize = 32;

/// Decodes and verifies a module. Any input, however damaged, gives a
/// module or an error; nothing panics.
pub fn decode(bytes: &[u8]) -> Result<Module, DecodeError> {
    check_header(bytes)?;
    let body_end = bytes.len() - CHECKSUM_LEN;
    let (content, checksum) = bytes.split_at(body_end);
    let actual: [u8; 32] = Sha256::digest(content).into();
    if actual.as_slice() != checksum {
        return Err(DecodeError::ChecksumMismatch { offset: body_end });
    }
    let mut reader = Reader {
        data: content,
        pos: HEADER_LEN,
        offsets: Offsets::default(),
    };
    let module = reader.module()?;
    if reader.pos != body_end {
        return Err(DecodeError::TrailingBytes {
            offset: reader.pos,
            count: body_end - reader.pos,
        });
    }
    verify::verify(&module, &reader.offsets)?;
    Ok(module)
}

/// Checks magic, version and that a checksum fits; returns nothing else.
fn check_header(bytes: &[u8]) -> Result<(), DecodeError> {
    let prefix = bytes.get(..MAGIC.len().min(bytes.len())).unwrap_or(&[]);
    if MAGIC.get(..prefix.len()) != Some(prefix) {
        return Err(DecodeError::BadMagic {
            found: prefix.escape_ascii().to_string(),
        });
    }
    let Some(&[low, high]) = bytes.get(MAGIC.len()..HEADER_LEN) else {
        return Err(DecodeError::Truncated {
            offset: 0,
            what: "header",
            needed: HEADER_LEN,
            available: bytes.len(),
        });
    };
    let version = u16::from_le_bytes([low, high]);
    if version > FORMAT_VERSION {
        return Err(DecodeError::NewerVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if version < FORMAT_VERSION {
        return Err(DecodeError::OlderVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if bytes.len() < HEADER_LEN + CHECKSUM_LEN {
        return Err(DecodeError::Truncated {
            offset: HEADER_LEN,
            what: "checksum",
            needed: CHECKSUM_LEN,
            available: bytes.len() - HEADER_LEN,
        });
    }
    Ok(())
}

type Result<T, E = DecodeError> = std::result::Result<T, E>;

struct Reader<'a> {
    /// Everything before the checksum; offsets count from its start.
    data: &'a [u8],
    pos: usize,
    offsets: Offsets,
}

/// Smallest encoded sizes, used to bound list counts.
mod min_size {
    pub const STR: usize = 4;
    pub const CONST: usize = 3;
    pub const SLOT: usize = 6;
    pub const RANGE: usize = 4;
    pub const DATE_RANGE: usize = 8;
    pub const EXCEPTION: usize = 8;
    pub const SCHEDULE: usize = 44;
    pub const INPUT: usize = 2;
    pub const OP: usize = 1;
    pub const UNIT: usize = 9;
    pub const NEED: usize = 1;
    pub const RELAX: usize = 13;
    pub const ANNOUNCEMENT: usize = 2;
    pub const QUEUE: usize = 36;
    pub const BLOCK: usize = 9;
    pub const ID: usize = 4;
    pub const LINE: usize = 16;
    pub const PROBE: usize = 17;
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        let start = self.pos;
        let slice = start
            .checked_add(n)
            .and_then(|end| self.data.get(start..end))
            .ok_or(DecodeError::Truncated {
                offset: start,
                what,
                needed: n,
                available: self.remaining(),
            })?;
        self.pos += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8> {
        let [byte] = self.array::<1>(what)?;
        Ok(byte)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn bool(&mut self, what: &'static str) -> Result<bool> {
        let offset = self.pos;
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::UnknownTag { offset, what, tag }),
        }
    }

    /// Reads a list count and checks that the rest of the input can hold
    /// that many items of at least `item_size` bytes.
    fn count(&mut self, item_size: usize, what: &'static str) -> Result<usize> {
        let offset = self.pos;
        let count = self.u32(what)?;
        let remaining = self.remaining();
        if (count as usize).saturating_mul(item_size) > remaining {
            return Err(DecodeError::TooLong {
                offset,
                what,
                count,
                remaining,
            });
        }
        Ok(count as usize)
    }

    fn list<T>(
        &mut self,
        item_size: usize,
        what: &'static str,
        mut each: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<Vec<T>> {
        let count = self.count(item_size, what)?;
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(each(self)?);
        }
        Ok(items)
    }

    fn str(&mut self, what: &'static str) -> Result<String> {
        let offset = self.pos;
        let len = self.count(1, what)?;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::InvalidUtf8 { offset, what })
    }

    fn option<T>(
        &mut self,
        what: &'static str,
        each: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<Option<T>> {
        if self.bool(what)? {
            Ok(Some(each(self)?))
        } else {
            Ok(None)
        }
    }

    fn tagged<T: Copy>(&mut self, table: &[T], what: &'static str) -> Result<T> {
        let offset = self.pos;
        let tag = self.u8(what)?;
        table
            .get(tag as usize)
            .copied()
            .ok_or(DecodeError::UnknownTag { offset, what, tag })
    }

    fn ty(&mut self) -> Result<Type> {
        self.tagged(&Type::ALL, "type")
    }

    fn key(&mut self) -> Result<Key> {
        let offset = self.pos;
        let tag = self.u8("key")?;
        Key::from_byte(tag).ok_or(DecodeError::UnknownTag {
            offset,
            what: "key",
            tag,
        })
    }

    fn date(&mut self) -> Result<Date> {
        let offset = self.pos;
        let year = i16::from_le_bytes(self.array("date")?);
        let month = self.u8("date")?;
        let day = self.u8("date")?;
        let date = Date { year, month, day };
        if !date.is_valid() {
            return Err(DecodeError::invalid(
                offset,
                format!("{date} is not a date"),
            ));
        }
        Ok(date)
    }

    fn module(&mut self) -> Result<Module> {
        let flow = self.str("flow name")?;
        let source_hash = self.array("source hash")?;
        let sources = self.list(min_size::STR, "source", |r| r.str("source name"))?;
        let numbers = self.list(min_size::STR, "number", |r| r.str("number"))?;
        let languages = self.list(min_size::STR, "language", |r| r.str("language"))?;
        let default_language = self.str("default language")?;
        let consts = self.list(min_size::CONST, "constant", Self::constant)?;
        let slots = self.list(min_size::SLOT, "slot", Self::slot)?;
        let schedules = self.list(min_size::SCHEDULE, "schedule", Self::schedule)?;
        let units = self.list(min_size::UNIT, "unit", Self::unit)?;
        let queues = self.list(min_size::QUEUE, "queue", Self::queue)?;
        let blocks = self.list(min_size::BLOCK, "block", Self::block)?;
        self.offsets.probes = self.pos;
        let probes = self.list(min_size::PROBE, "probe", Self::probe)?;
        Ok(Module {
            flow,
            source_hash,
            sources,
            numbers,
            languages,
            default_language,
            consts,
            slots,
            schedules,
            units,
            queues,
            blocks,
            probes,
        })
    }

    fn constant(&mut self) -> Result<Const> {
        let offset = self.pos;
        Ok(match self.u8("constant")? {
            0 => Const::Text(self.str("text constant")?),
            1 => Const::Digits(self.str("digits constant")?),
            2 => Const::Int(i64::from_le_bytes(self.array("integer constant")?)),
            3 => Const::Duration(self.u64("duration constant")?),
            4 => Const::Date(self.date()?),
            5 => {
                let minutes_offset = self.pos;
                let minutes = self.u16("time constant")?;
                if minutes > 24 * 60 {
                    return Err(DecodeError::invalid(
                        minutes_offset,
                        format!("time constant {minutes} is past 24:00"),
                    ));
                }
                Const::Time(minutes)
            }
            6 => Const::Prompt(self.str("prompt constant")?),
            7 => Const::Name(self.str("name constant")?),
            tag => {
                return Err(DecodeError::UnknownTag {
                    offset,
                    what: "constant",
                    tag,
                });
            }
        })
    }

    fn slot(&mut self) -> Result<Slot> {
        let name = self.str("slot name")?;
        let ty = self.ty()?;
        let offset = self.pos;
        let flags = self.u8("slot flags")?;
        if flags > 0b11 {
            return Err(DecodeError::UnknownTag {
                offset,
                what: "slot flags",
                tag: flags,
            });
        }
        Ok(Slot {
            name,
            ty,
            sensitive: flags & 1 != 0,
            hidden: flags & 2 != 0,
        })
    }

    fn range(&mut self, max_end: u16) -> Result<MinuteRange> {
        let offset = self.pos;
        let start = self.u16("range start")?;
        let end = self.u16("range end")?;
        if start >= end || start >= 24 * 60 || end > max_end {
            return Err(DecodeError::invalid(
                offset,
                format!("opening range {start}..{end} (minutes) is not a valid range"),
            ));
        }
        Ok(MinuteRange { start, end })
    }

    fn schedule(&mut self) -> Result<Schedule> {
        let name = self.str("schedule name")?;
        let zone = self.str("time zone")?;
        let mut weekly: [Vec<MinuteRange>; 7] = Default::default();
        for day in &mut weekly {
            *day = self.list(min_size::RANGE, "weekday range", |r| r.range(48 * 60))?;
        }
        let holidays = self.list(min_size::DATE_RANGE, "holiday", |r| {
            let offset = r.pos;
            let first = r.date()?;
            let last = r.date()?;
            if last < first {
                return Err(DecodeError::invalid(
                    offset,
                    format!("holiday {first}..{last} ends before it starts"),
                ));
            }
            Ok(DateRange { first, last })
        })?;
        let mut previous: Option<Date> = None;
        let exceptions = self.list(min_size::EXCEPTION, "exception", |r| {
            let offset = r.pos;
            let date = r.date()?;
            if previous.is_some_and(|p| p >= date) {
                return Err(DecodeError::invalid(
                    offset,
                    format!("exception dates are not in increasing order at {date}"),
                ));
            }
            previous = Some(date);
            let ranges = r.list(min_size::RANGE, "exception range", |r| r.range(48 * 60))?;
            Ok(ScheduleException { date, ranges })
        })?;
        Ok(Schedule {
            name,
            zone,
            weekly,
            holidays,
            exceptions,
        })
    }

    fn unit(&mut self) -> Result<ExprUnit> {
        let result = self.ty()?;
        let inputs = self.list(min_size::INPUT, "unit input", |r| {
            let offset = r.pos;
            match r.u8("unit input")? {
                0 => Ok(Input::Slot(SlotId(r.u32("slot")?))),
                1 => Ok(Input::Builtin(r.tagged(&Builtin::ALL, "built-in")?)),
                2 => Ok(Input::Clock(ScheduleId(r.u32("schedule")?))),
                tag => Err(DecodeError::UnknownTag {
                    offset,
                    what: "unit input",
                    tag,
                }),
            }
        })?;
        let count = self.count(min_size::OP, "unit instruction")?;
        let mut code = Vec::with_capacity(count);
        let mut offsets = Vec::with_capacity(count);
        for _ in 0..count {
            offsets.push(self.pos);
            code.push(self.unit_op()?);
        }
        self.offsets.units.push(offsets);
        Ok(ExprUnit {
            result,
            inputs,
            code,
        })
    }

    fn unit_op(&mut self) -> Result<UnitOp> {
        use unit_op as o;
        let offset = self.pos;
        Ok(match self.u8("unit instruction")? {
            o::CONST => UnitOp::Const(ConstId(self.u32("constant")?)),
            o::BOOL => UnitOp::Bool(self.bool("bool")?),
            o::LOAD => UnitOp::Load(SlotId(self.u32("slot")?)),
            o::BUILTIN => UnitOp::Builtin(self.tagged(&Builtin::ALL, "built-in")?),
            o::FIELD => UnitOp::Field {
                name: ConstId(self.u32("constant")?),
                ty: self.ty()?,
            },
            o::IS_FOUND => UnitOp::IsFound,
            o::IS_MISSING => UnitOp::IsMissing,
            o::NOT => UnitOp::Not,
            o::NEG => UnitOp::Neg,
            o::ARITH => UnitOp::Arith {
                op: self.tagged(&ArithOp::ALL, "arithmetic operator")?,
                ty: self.ty()?,
            },
            o::COMPARE => UnitOp::Compare {
                op: self.tagged(&CmpOp::ALL, "comparison operator")?,
                ty: self.ty()?,
            },
            o::STARTS_WITH => UnitOp::StartsWith,
            o::CONCAT => UnitOp::Concat,
            o::TO_TEXT => UnitOp::ToText(self.ty()?),
            o::LENGTH => UnitOp::Length,
            o::OPEN => UnitOp::Open(ScheduleId(self.u32("schedule")?)),
            o::TODAY => UnitOp::Today(ScheduleId(self.u32("schedule")?)),
            o::NOW => UnitOp::Now(ScheduleId(self.u32("schedule")?)),
            o::HOLIDAY => UnitOp::Holiday(ScheduleId(self.u32("schedule")?)),
            o::JUMP => UnitOp::Jump(self.u32("jump target")?),
            o::JUMP_IF_NOT => UnitOp::JumpIfNot(self.u32("jump target")?),
            o::JUMP_IF_FALSE_OR_POP => UnitOp::JumpIfFalseOrPop(self.u32("jump target")?),
            o::JUMP_IF_TRUE_OR_POP => UnitOp::JumpIfTrueOrPop(self.u32("jump target")?),
            tag => {
                return Err(DecodeError::UnknownTag {
                    offset,
                    what: "unit instruction",
                    tag,
                });
            }
        })
    }

    fn queue(&mut self) -> Result<Queue> {
        let name = self.str("queue name")?;
        let strategy = self.tagged(&STRATEGIES, "strategy")?;
        let needs = self.list(min_size::NEED, "need", Self::need)?;
        let relax = self.list(min_size::RELAX, "relax step", |r| {
            Ok(RelaxStep {
                after_ms: r.u64("relax delay")?,
                skill: r.str("skill")?,
                level: r.option("relax level", |r| r.u32("skill level"))?,
            })
        })?;
        let sticky_ms = self.option("sticky", |r| r.u64("sticky time"))?;
        let priority_offset = self.pos + 1;
        let priority = self.option("priority", |r| Ok(UnitId(r.u32("unit")?)))?;
        let target_offset = self.pos;
        let target = self.option("target", |r| {
            Ok(ServiceTarget {
                percent: f64::from_bits(r.u64("target percentage")?),
                within_ms: r.u64("target time")?,
            })
        })?;
        if let Some(t) = target
            && !(0.0..=100.0).contains(&t.percent)
        {
            return Err(DecodeError::invalid(
                target_offset,
                format!("service-level target {}% is outside 0-100%", t.percent),
            ));
        }
        let announcements =
            self.list(min_size::ANNOUNCEMENT, "announcement", Self::announcement)?;
        let music = self.str("music prompt")?;
        let callback = self.option("callback", |r| {
            Ok(CallbackOffer {
                after_ms: r.u64("callback delay")?,
                key: r.key()?,
            })
        })?;
        let max_wait_ms = self.option("max wait", |r| r.u64("max wait"))?;
        let max_callers = self.option("max callers", |r| r.u32("max callers"))?;
        let overflow_offset = self.pos + 1;
        let overflow = self.option("overflow", |r| Ok(BlockId(r.u32("block")?)))?;
        let wrapup_ms = self.u64("wrap-up time")?;
        self.offsets.queues.push((priority_offset, overflow_offset));
        Ok(Queue {
            name,
            strategy,
            needs,
            relax,
            sticky_ms,
            priority,
            target,
            announcements,
            music,
            callback,
            max_wait_ms,
            max_callers,
            overflow,
            wrapup_ms,
        })
    }

    fn need(&mut self) -> Result<QueueNeed> {
        let offset = self.pos;
        match self.u8("need")? {
            0 => Ok(QueueNeed::Language),
            1 => Ok(QueueNeed::Skill {
                skill: self.str("skill")?,
                level: self.u32("skill level")?,
            }),
            tag => Err(DecodeError::UnknownTag {
                offset,
                what: "need",
                tag,
            }),
        }
    }

    fn announcement(&mut self) -> Result<Announcement> {
        let offset = self.pos;
        let what = match self.u8("announcement")? {
            0 => AnnounceKind::Position,
            1 => AnnounceKind::Wait,
            2 => AnnounceKind::PositionAndWait,
            3 => AnnounceKind::Prompt(self.str("announcement prompt")?),
            tag => {
                return Err(DecodeError::UnknownTag {
                    offset,
                    what: "announcement",
                    tag,
                });
            }
        };
        let every_ms = self.option("announcement interval", |r| r.u64("interval"))?;
        Ok(Announcement { what, every_ms })
    }

    fn block(&mut self) -> Result<Block> {
        let offset = self.pos;
        let kind = match self.u8("block kind")? {
            0 => BlockKind::OnCall,
            1 => BlockKind::AfterCall,
            2 => BlockKind::Step(self.str("step name")?),
            3 => BlockKind::Subflow(self.str("sub-flow name")?),
            4 => BlockKind::Overflow(QueueId(self.u32("queue")?)),
            tag => {
                return Err(DecodeError::UnknownTag {
                    offset,
                    what: "block kind",
                    tag,
                });
            }
        };
        let count = self.count(min_size::OP, "instruction")?;
        let mut code = Vec::with_capacity(count);
        let mut offsets = Vec::with_capacity(count);
        for _ in 0..count {
            offsets.push(self.pos);
            code.push(self.instr()?);
        }
        let lines_at = self.pos;
        let lines = self.list(min_size::LINE, "line entry", |r| {
            Ok(LineEntry {
                instr: r.u32("line entry instruction")?,
                at: r.position()?,
            })
        })?;
        self.offsets.blocks.push((offset, offsets));
        self.offsets.lines.push(lines_at);
        Ok(Block { kind, code, lines })
    }

    fn position(&mut self) -> Result<Position> {
        Ok(Position {
            source: self.u32("source index")?,
            line: self.u32("line")?,
            column: self.u32("column")?,
        })
    }

    fn probe(&mut self) -> Result<Probe> {
        let at = self.position()?;
        let site = self.str("probe site")?;
        let offset = self.pos;
        let outcome = match self.u8("probe outcome")? {
            probe_tag::THEN => ProbeOutcome::Then(self.u32("branch")?),
            probe_tag::ELSE => ProbeOutcome::Else,
            probe_tag::KEY => ProbeOutcome::Key(self.key()?),
            probe_tag::INVALID => ProbeOutcome::Invalid,
            probe_tag::NO_INPUT => ProbeOutcome::NoInput,
            probe_tag::EXHAUSTED => ProbeOutcome::Exhausted,
            probe_tag::VALID => ProbeOutcome::Valid,
            probe_tag::FOUND => ProbeOutcome::Found,
            probe_tag::MISSING => ProbeOutcome::Missing,
            probe_tag::FAILED => ProbeOutcome::Failed,
            probe_tag::ARM => ProbeOutcome::Arm(self.u32("arm")?),
            probe_tag::NO_MATCH => ProbeOutcome::NoMatch,
            probe_tag::OVERFLOW => ProbeOutcome::Overflow,
            tag => {
                return Err(DecodeError::UnknownTag {
                    offset,
                    what: "probe outcome",
                    tag,
                });
            }
        };
        Ok(Probe { at, site, outcome })
    }

    fn instr(&mut self) -> Result<Instr> {
        let offset = self.pos;
        let opcode = self.u8("instruction")?;
        Ok(match opcode {
            op::PUSH_CONST => Instr::PushConst(self.const_id()?),
            op::PUSH_BOOL => Instr::PushBool(self.bool("bool")?),
            op::LOAD => Instr::Load(SlotId(self.u32("slot")?)),
            op::STORE => Instr::Store(SlotId(self.u32("slot")?)),
            op::POP => Instr::Pop,
            op::EVAL => Instr::Eval(UnitId(self.u32("unit")?)),
            op::INC => Instr::Inc(SlotId(self.u32("slot")?)),
            op::PROBE => Instr::Probe(ProbeId(self.u32("probe")?)),
            op::PROBE_CONTACT => Instr::ProbeContact {
                slot: SlotId(self.u32("slot")?),
                found: ProbeId(self.u32("probe")?),
                missing: ProbeId(self.u32("probe")?),
            },
            op::JUMP => Instr::Jump(self.target()?),
            op::JUMP_IF => Instr::JumpIf(self.target()?),
            op::JUMP_IF_NOT => Instr::JumpIfNot(self.target()?),
            op::JUMP_IF_BELOW => Instr::JumpIfBelow {
                slot: SlotId(self.u32("slot")?),
                limit: self.u32("limit")?,
                target: self.target()?,
            },
            op::JUMP_IF_KEY => Instr::JumpIfKey {
                key: self.key()?,
                target: self.target()?,
            },
            op::JUMP_IF_NO_INPUT => Instr::JumpIfNoInput(self.target()?),
            op::JUMP_IF_EQUAL => Instr::JumpIfEqual {
                value: self.const_id()?,
                target: self.target()?,
            },
            op::JUMP_IF_PREFIX => Instr::JumpIfPrefix {
                prefix: self.const_id()?,
                target: self.target()?,
            },
            op::GOTO => Instr::Goto(BlockId(self.u32("block")?)),
            op::RUN => Instr::Run(BlockId(self.u32("block")?)),
            op::RETURN => Instr::Return,
            op::END => Instr::End,
            op::ANSWER => Instr::Answer,
            op::PLAY => Instr::Play(self.list(min_size::ID, "prompt", Self::const_id)?),
            op::COLLECT_KEY => Instr::CollectKey {
                timeout_ms: self.u64("timeout")?,
            },
            op::COLLECT_DIGITS => Instr::CollectDigits {
                min: self.u32("minimum length")?,
                max: self.u32("maximum length")?,
                terminator: self.key()?,
                timeout_ms: self.u64("timeout")?,
                interdigit_ms: self.u64("inter-digit timeout")?,
                sensitive: self.bool("sensitive flag")?,
            },
            op::LOOKUP => Instr::Lookup {
                source: self.const_id()?,
                timeout_ms: self.u64("timeout")?,
                on_failure: self.target()?,
            },
            op::ENQUEUE => Instr::Enqueue {
                queue: QueueId(self.u32("queue")?),
                on_overflow: self.target()?,
            },
            op::TRANSFER => Instr::Transfer,
            op::VOICEMAIL => Instr::Voicemail(self.const_id()?),
            op::HANGUP => Instr::Hangup,
            op::SET_LANGUAGE => Instr::SetLanguage,
            op::RECORD => Instr::Record(self.tagged(&RECORD_MODES, "recording mode")?),
            op::TAG => Instr::Tag,
            op::TIMELINE => Instr::Timeline,
            op::TICKET => Instr::Ticket(self.tagged(&TICKET_MODES, "ticket mode")?),
            op::SURVEY => Instr::Survey {
                question: self.const_id()?,
                thanks: self.option("survey thanks", Self::const_id)?,
            },
            op::WEBHOOK => Instr::Webhook(self.const_id()?),
            op::NOTIFY => Instr::Notify(self.const_id()?),
            tag => {
                return Err(DecodeError::UnknownTag {
                    offset,
                    what: "instruction",
                    tag,
                });
            }
        })
    }

    fn const_id(&mut self) -> Result<ConstId> {
        Ok(ConstId(self.u32("constant")?))
    }

    fn target(&mut self) -> Result<u32> {
        self.u32("jump target")
    }
}
