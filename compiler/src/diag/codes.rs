//! The catalogue of diagnostic codes.
//!
//! Every code has a page under `docs/codes/` (what it means, why it matters,
//! an example and the fix). `flowc explain CODE` prints that page, so the
//! command and the docs cannot drift apart.

use super::Severity;
use serde::{Serialize, Serializer};

/// Facts about one code.
#[derive(Clone, Copy, Debug)]
pub struct CodeInfo {
    /// The code as printed, such as `F0102`.
    pub id: &'static str,
    /// Short title, also the page heading.
    pub title: &'static str,
    /// Severity of every diagnostic with this code.
    pub severity: Severity,
    /// The documentation page, Markdown.
    pub page: &'static str,
}

macro_rules! codes {
    ($($variant:ident = $id:literal, $severity:ident, $title:literal;)*) => {
        /// A stable diagnostic code. Codes are never reused for another meaning.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $(
                #[doc = $title]
                $variant,
            )*
        }

        impl Code {
            /// Returns the code's id, title, severity and page.
            pub fn info(self) -> CodeInfo {
                match self {
                    $(Code::$variant => CodeInfo {
                        id: $id,
                        title: $title,
                        severity: Severity::$severity,
                        page: include_str!(concat!("../../../docs/codes/", $id, ".md")),
                    },)*
                }
            }
        }

        /// Returns every code in catalogue order.
        pub fn all_codes() -> &'static [Code] {
            &[$(Code::$variant,)*]
        }
    };
}

codes! {
    // F00xx: syntax and literals.
    SyntaxError = "F0001", Error, "syntax error";
    InvalidLiteral = "F0002", Error, "invalid literal";
    MisplacedDeclaration = "F0003", Error, "declaration in the wrong place";
    TooDeep = "F0004", Error, "nesting or expression too deep";
    // F01xx: names.
    UnknownVariable = "F0101", Error, "unknown name";
    UnknownQueue = "F0102", Error, "unknown queue";
    UnknownSchedule = "F0103", Error, "unknown schedule";
    UnknownSkill = "F0104", Error, "unknown skill";
    UnknownHook = "F0105", Error, "unknown hook";
    UnknownStep = "F0106", Error, "unknown step or sub-flow";
    UnknownField = "F0107", Error, "unknown field";
    UnknownLanguage = "F0108", Error, "unknown language";
    UnknownFunction = "F0109", Error, "unknown function";
    DuplicateName = "F0110", Error, "name declared twice";
    UnusedVariable = "F0111", Warning, "variable never used";
    UnsetVariable = "F0112", Error, "variable used before it is set";
    UnusedDeclaration = "F0113", Warning, "step, sub-flow, schedule or queue never used";
    // F02xx: types.
    TypeMismatch = "F0201", Error, "type mismatch";
    WrongArguments = "F0202", Error, "wrong number of arguments";
    NotAssignable = "F0203", Error, "value cannot be assigned";
    // F03xx: the shape of the call.
    PathWithoutEnd = "F0301", Error, "path that does not end the call";
    UnreachableCode = "F0302", Warning, "unreachable code";
    UnboundedLoop = "F0303", Error, "loop that can repeat without bound";
    MissingAttempts = "F0304", Error, "menu or collect without an attempt limit";
    DuplicateKey = "F0305", Error, "menu key used twice";
    LookupFailureUnhandled = "F0306", Error, "lookup failure not handled";
    OptionalUnchecked = "F0307", Error, "lookup result used without checking it was found";
    OverflowUnhandled = "F0308", Error, "queue overflow not handled";
    MisplacedStatement = "F0309", Error, "statement not allowed here";
    MissingOption = "F0310", Error, "required option missing";
    InvalidOption = "F0311", Error, "option value out of range";
    // F04xx: schedules.
    UnknownTimeZone = "F0401", Error, "unknown time zone";
    ImpossibleDate = "F0402", Error, "impossible date or time";
    RangeEndsBeforeStart = "F0403", Error, "time range ends before it starts";
    OverlappingRanges = "F0404", Error, "overlapping time ranges";
    // F05xx: prompts and deployment config.
    MissingPrompt = "F0501", Error, "prompt missing for a language";
    ConfigUnknownKey = "F0502", Error, "unknown key in tok.yaml";
    ConfigInvalid = "F0503", Error, "invalid value in tok.yaml";
    UnknownFlow = "F0504", Error, "number mapped to an unknown flow";
    NumberConflict = "F0505", Error, "number mapped to two flows";
    FlowWithoutNumber = "F0506", Warning, "flow that no number reaches";
    PromptFolderMissing = "F0507", Error, "prompt folder not found";
    // F06xx: building bytecode.
    UnknownFlowName = "F0601", Error, "no flow with this name";
    CannotCompile = "F0602", Error, "flow cannot be compiled";
}

impl Code {
    /// Finds a code by its id, case-insensitively.
    pub fn parse(id: &str) -> Option<Code> {
        all_codes()
            .iter()
            .copied()
            .find(|c| c.info().id.eq_ignore_ascii_case(id.trim()))
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.info().id)
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.info().id)
    }
}
