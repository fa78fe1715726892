//! The items of `menu`, `collect` and `lookup` blocks in the order written.
//!
//! The syntax tree keeps these options in fields, not in a list, and keeps
//! only the last of an option written twice. The source still has the
//! order and the keywords. This module finds each option's keyword before
//! its value and sorts the items by where they start. It reports any option
//! word that no item accounts for, so formatting never drops an option.

use super::lex::{Lexer, TokenKind};
use crate::diag::{Code, Diagnostic, FileId, Span};
use crate::syntax::ast::{
    Block, Collect, DurationLit, Expr, FailureArm, IntLit, KeyLit, Lookup, Menu, StringLit,
};

/// One line of a `menu`, `collect` or `lookup` block.
#[derive(Clone, Copy, Debug)]
pub(super) enum Item<'a> {
    /// `prompt "a", "b"`.
    Prompt(&'a [StringLit]),
    /// `timeout 5s`.
    Timeout(&'a DurationLit),
    /// `attempts 3`.
    Attempts(&'a IntLit),
    /// `length 4` or `length 4..8`.
    Length(&'a IntLit, &'a IntLit),
    /// `terminator #`.
    Terminator(&'a KeyLit),
    /// `interdigit 3s`.
    Interdigit(&'a DurationLit),
    /// `valid if EXPR`.
    Valid(&'a Expr),
    /// `sensitive`.
    Sensitive,
    /// `KEY => ...`.
    Key(&'a KeyLit, &'a Block),
    /// `invalid => ...` and the other failure arms.
    Failure(&'a FailureArm),
}

/// An item with its place in the source.
#[derive(Clone, Copy, Debug)]
pub(super) struct Placed<'a> {
    /// The item.
    pub item: Item<'a>,
    /// Offset of its first word.
    pub start: usize,
    /// Offset of its end; may include white space after the code.
    pub end: usize,
}

/// An item before its keywords are found: the words that introduce it and
/// the range of what follows them.
struct Pending<'a> {
    item: Item<'a>,
    keywords: &'static [&'static str],
    value: std::ops::Range<usize>,
}

fn range(span: Span) -> std::ops::Range<usize> {
    span.range()
}

fn strings_range(strings: &[StringLit]) -> std::ops::Range<usize> {
    let start = strings.first().map_or(0, |s| s.span.start as usize);
    let end = strings.last().map_or(0, |s| s.span.end as usize);
    start..end
}

fn arm_items<'a>(failures: &'a [FailureArm]) -> impl Iterator<Item = Pending<'a>> {
    failures.iter().map(|arm| Pending {
        item: Item::Failure(arm),
        keywords: &[],
        value: range(arm.span),
    })
}

fn menu_items(menu: &Menu) -> Vec<Pending<'_>> {
    let mut items = Vec::new();
    if !menu.prompts.is_empty() {
        items.push(Pending {
            item: Item::Prompt(&menu.prompts),
            keywords: &["prompt"],
            value: strings_range(&menu.prompts),
        });
    }
    common_items(&mut items, menu.timeout.as_ref(), menu.attempts.as_ref());
    items.extend(menu.keys.iter().map(|(key, body)| Pending {
        item: Item::Key(key, body),
        keywords: &[],
        value: key.span.start as usize..body.span.end as usize,
    }));
    items.extend(arm_items(&menu.failures));
    items
}

fn common_items<'a>(
    items: &mut Vec<Pending<'a>>,
    timeout: Option<&'a DurationLit>,
    attempts: Option<&'a IntLit>,
) {
    if let Some(timeout) = timeout {
        items.push(Pending {
            item: Item::Timeout(timeout),
            keywords: &["timeout"],
            value: range(timeout.span),
        });
    }
    if let Some(attempts) = attempts {
        items.push(Pending {
            item: Item::Attempts(attempts),
            keywords: &["attempts"],
            value: range(attempts.span),
        });
    }
}

fn collect_items(collect: &Collect) -> Vec<Pending<'_>> {
    let mut items = Vec::new();
    if !collect.prompts.is_empty() {
        items.push(Pending {
            item: Item::Prompt(&collect.prompts),
            keywords: &["prompt"],
            value: strings_range(&collect.prompts),
        });
    }
    common_items(
        &mut items,
        collect.timeout.as_ref(),
        collect.attempts.as_ref(),
    );
    if let Some((min, max)) = &collect.length {
        items.push(Pending {
            item: Item::Length(min, max),
            keywords: &["length"],
            value: min.span.start as usize..max.span.end as usize,
        });
    }
    if let Some(key) = &collect.terminator {
        items.push(Pending {
            item: Item::Terminator(key),
            keywords: &["terminator"],
            value: range(key.span),
        });
    }
    if let Some(wait) = &collect.interdigit {
        items.push(Pending {
            item: Item::Interdigit(wait),
            keywords: &["interdigit"],
            value: range(wait.span),
        });
    }
    if let Some(condition) = &collect.valid {
        items.push(Pending {
            item: Item::Valid(condition),
            keywords: &["valid", "if"],
            value: range(condition.span),
        });
    }
    items.extend(arm_items(&collect.failures));
    items
}

fn lookup_items(lookup: &Lookup) -> Vec<Pending<'_>> {
    let mut items = Vec::new();
    common_items(&mut items, lookup.timeout.as_ref(), None);
    items.extend(arm_items(&lookup.failures));
    items
}

/// The source of one `menu`, `collect` or `lookup` block.
pub(super) struct BlockSource<'s> {
    /// The whole file.
    pub src: &'s str,
    /// Offset of the opening brace.
    pub open: usize,
    /// Offset of the closing brace.
    pub close: usize,
    /// The file, for diagnostics.
    pub file: FileId,
}

/// Returns a menu's items in source order.
pub(super) fn menu<'a>(
    menu: &'a Menu,
    block: &BlockSource<'_>,
) -> Result<Vec<Placed<'a>>, Diagnostic> {
    place(menu_items(menu), false, block, "menu")
}

/// Returns a collect's items in source order.
pub(super) fn collect<'a>(
    collect: &'a Collect,
    block: &BlockSource<'_>,
) -> Result<Vec<Placed<'a>>, Diagnostic> {
    place(collect_items(collect), collect.sensitive, block, "collect")
}

/// Returns a lookup's items in source order.
pub(super) fn lookup<'a>(
    lookup: &'a Lookup,
    block: &BlockSource<'_>,
) -> Result<Vec<Placed<'a>>, Diagnostic> {
    place(lookup_items(lookup), false, block, "lookup")
}

/// A word of the block outside every item's value: an option keyword, or
/// part of an option the tree does not hold.
struct Word {
    start: usize,
    end: usize,
    claimed: bool,
}

fn loose_words(items: &[Pending<'_>], block: &BlockSource<'_>) -> Vec<Word> {
    let inside_value = |pos: usize| items.iter().any(|p| p.value.contains(&pos));
    Lexer::new(block.src, block.open + 1)
        .take_while(|t| t.start < block.close)
        .filter(|t| t.kind == TokenKind::Word && !t.in_string && !inside_value(t.start))
        .map(|t| Word {
            start: t.start,
            end: t.end,
            claimed: false,
        })
        .collect()
}

/// Claims the last unclaimed `keyword` that starts before `before`.
fn claim(words: &mut [Word], src: &str, keyword: &str, before: usize) -> Option<usize> {
    let word = words
        .iter_mut()
        .rev()
        .find(|w| !w.claimed && w.start < before && src.get(w.start..w.end) == Some(keyword))?;
    word.claimed = true;
    Some(word.start)
}

fn place<'a>(
    items: Vec<Pending<'a>>,
    sensitive: bool,
    block: &BlockSource<'_>,
    what: &str,
) -> Result<Vec<Placed<'a>>, Diagnostic> {
    let mut words = loose_words(&items, block);
    let mut placed = Vec::new();
    for pending in &items {
        let mut start = pending.value.start;
        for keyword in pending.keywords.iter().rev() {
            start = claim(&mut words, block.src, keyword, start).unwrap_or(start);
        }
        placed.push(Placed {
            item: pending.item,
            start,
            end: pending.value.end,
        });
    }
    if sensitive {
        let start = claim(&mut words, block.src, "sensitive", block.close).unwrap_or(block.close);
        placed.push(Placed {
            item: Item::Sensitive,
            start,
            end: start + "sensitive".len(),
        });
    }
    if let Some(word) = words.iter().find(|w| !w.claimed) {
        return Err(unplaced(word, &words, block, what));
    }
    placed.sort_by_key(|p| p.start);
    Ok(placed)
}

/// Reports a word no item accounts for: in practice an option written
/// twice, of which the tree keeps only the last.
fn unplaced(word: &Word, words: &[Word], block: &BlockSource<'_>, what: &str) -> Diagnostic {
    let text = block.src.get(word.start..word.end).unwrap_or("");
    let span = Span::new(word.start, word.end);
    let kept = words
        .iter()
        .find(|w| w.claimed && block.src.get(w.start..w.end) == Some(text));
    let Some(kept) = kept else {
        return Diagnostic::new(
            Code::SyntaxError,
            format!("unexpected `{text}` in this {what}"),
        )
        .primary(block.file, span, "not part of any option")
        .help("remove it, or complete the option it belongs to");
    };
    Diagnostic::new(
        Code::SyntaxError,
        format!("option `{text}` is written twice in this {what}"),
    )
    .primary(
        block.file,
        span,
        format!("first `{text}`, which has no effect"),
    )
    .secondary(
        block.file,
        Span::new(kept.start, kept.end),
        "this one takes effect",
    )
    .help(format!("keep one `{text}` line"))
}
