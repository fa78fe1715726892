//! Variables of one flow or sub-flow, and the facts known about them at one
//! point of a call: which are set, and which contacts are known to be found.

use super::types::Type;
use crate::diag::{FileId, Span};
use crate::syntax::ast::Expr;
use std::cell::Cell;
use std::collections::{HashMap, HashSet};

/// Index of a variable in its [`Vars`].
pub type VarId = usize;

/// A set of variables as a bit set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bits {
    words: Vec<u64>,
}

impl Bits {
    /// Returns the empty set over `len` variables.
    pub fn empty(len: usize) -> Self {
        Bits {
            words: vec![0; len.div_ceil(64)],
        }
    }

    /// Returns the set of all `len` variables.
    pub fn full(len: usize) -> Self {
        let mut words = vec![u64::MAX; len.div_ceil(64)];
        if let Some(last) = words.last_mut()
            && !len.is_multiple_of(64)
        {
            *last = (1u64 << (len % 64)) - 1;
        }
        Bits { words }
    }

    /// Adds a variable.
    pub fn insert(&mut self, id: VarId) {
        if let Some(word) = self.words.get_mut(id / 64) {
            *word |= 1 << (id % 64);
        }
    }

    /// Removes a variable.
    pub fn remove(&mut self, id: VarId) {
        if let Some(word) = self.words.get_mut(id / 64) {
            *word &= !(1 << (id % 64));
        }
    }

    /// True when the variable is in the set.
    pub fn contains(&self, id: VarId) -> bool {
        self.words
            .get(id / 64)
            .is_some_and(|word| word & (1 << (id % 64)) != 0)
    }

    /// Keeps only the variables also in `other`.
    pub fn intersect(&mut self, other: &Bits) {
        for (word, other) in self.words.iter_mut().zip(&other.words) {
            *word &= other;
        }
    }
}

/// The facts known at one point of a call. States meet at joins by
/// intersection, so the state of a point no path reaches is the full state,
/// which changes nothing at a join.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// Variables set on every path to here.
    pub set: Bits,
    /// Contact variables known to be found on every path to here.
    pub found: Bits,
}

impl State {
    /// Returns the state at the start of a call, where nothing is set.
    pub fn start(len: usize) -> Self {
        State {
            set: Bits::empty(len),
            found: Bits::empty(len),
        }
    }

    /// Returns the state of a point that no path reaches.
    pub fn unreachable(len: usize) -> Self {
        State {
            set: Bits::full(len),
            found: Bits::full(len),
        }
    }

    /// Keeps only what is also known in `other`.
    pub fn meet(&mut self, other: &State) {
        self.set.intersect(&other.set);
        self.found.intersect(&other.found);
    }

    /// Records that a variable has a new value, which may be a missing
    /// contact.
    pub fn assign(&mut self, id: VarId) {
        self.set.insert(id);
        self.found.remove(id);
    }
}

/// The statement kind that creates a variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `let NAME = VALUE`.
    Let,
    /// `collect NAME { ... }`.
    Collect,
    /// `lookup NAME in ... { ... }`.
    Lookup,
}

/// The type of a variable, worked out when first needed because a `let` may
/// refer to variables created further down the file.
#[derive(Clone, Copy, Debug)]
pub enum TypeSlot<'a> {
    /// Known.
    Known(Type),
    /// The type of this expression, not yet worked out.
    Pending(&'a Expr),
    /// Being worked out; meeting it again means the definitions refer to
    /// each other.
    Resolving,
}

/// One variable.
#[derive(Debug)]
pub struct Var<'a> {
    /// Its name.
    pub name: &'a str,
    /// The place of the name in the statement that creates it.
    pub span: Span,
    /// The statement kind that creates it.
    pub origin: Origin,
    /// Its type.
    pub ty: Cell<TypeSlot<'a>>,
    /// True once a reported walk has read it.
    pub used: Cell<bool>,
}

/// The variables of one flow or sub-flow.
#[derive(Debug, Default)]
pub struct Vars<'a> {
    /// Variables in order of creation.
    pub list: Vec<Var<'a>>,
    by_name: HashMap<&'a str, VarId>,
    /// Names that a declaration which failed to parse may create; reading
    /// them is not reported, because the syntax error already was.
    pub maybe: HashSet<String>,
    /// The file the variables are written in.
    pub file: FileId,
}

impl<'a> Vars<'a> {
    /// Creates an empty table for one file.
    pub fn new(file: FileId) -> Self {
        Vars {
            file,
            ..Vars::default()
        }
    }

    /// Adds a variable and returns its id, or returns the id of the variable
    /// already created with that name.
    pub fn add(&mut self, var: Var<'a>) -> Result<VarId, VarId> {
        if let Some(&id) = self.by_name.get(var.name) {
            return Err(id);
        }
        let id = self.list.len();
        self.by_name.insert(var.name, id);
        self.list.push(var);
        Ok(id)
    }

    /// Finds a variable by name.
    pub fn get(&self, name: &str) -> Option<VarId> {
        self.by_name.get(name).copied()
    }

    /// Returns a variable by id.
    pub fn var(&self, id: VarId) -> Option<&Var<'a>> {
        self.list.get(id)
    }

    /// Number of variables.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Names of all variables, for did-you-mean.
    pub fn names(&self) -> impl Iterator<Item = &'a str> + Clone + '_ {
        self.list.iter().map(|v| v.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_bits_hold_exactly_len() {
        let bits = Bits::full(70);
        assert!(bits.contains(0));
        assert!(bits.contains(69));
        assert!(!bits.contains(70));
        assert_eq!(Bits::full(64), Bits::full(64));
        assert!(Bits::full(64).contains(63));
    }

    #[test]
    fn meet_intersects_both_sets() {
        let mut a = State::start(3);
        a.assign(0);
        a.assign(1);
        a.found.insert(1);
        let mut b = State::start(3);
        b.assign(1);
        b.found.insert(1);
        a.meet(&b);
        assert!(!a.set.contains(0));
        assert!(a.set.contains(1));
        assert!(a.found.contains(1));
    }

    #[test]
    fn unreachable_state_is_neutral() {
        let mut a = State::unreachable(2);
        let mut b = State::start(2);
        b.assign(1);
        a.meet(&b);
        assert_eq!(a, b);
    }
}
