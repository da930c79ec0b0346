//! Interned names (SKUs, locations, tenants, channels, actors, rule versions).
//!
//! A million holds name a few thousand distinct SKUs and a handful of tenants;
//! storing each name once and a 4-byte symbol everywhere else is what keeps an
//! open hold small. Names are interned only when a change is applied, so a
//! rejected request never grows the table and replay interns in the same
//! order as the live run did.

use std::sync::Arc;

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Sym(u32);

#[derive(Clone, Debug, Default)]
pub struct Symbols {
    by_name: HashMap<Arc<str>, Sym>,
    names: Vec<Arc<str>>,
}

impl Symbols {
    pub fn from_names(names: Vec<Arc<str>>) -> Self {
        let by_name = names
            .iter()
            .enumerate()
            .map(|(i, name)| (name.clone(), Sym(i as u32)))
            .collect();
        Symbols { by_name, names }
    }

    pub fn names(&self) -> &[Arc<str>] {
        &self.names
    }

    pub fn get(&self, name: &str) -> Option<Sym> {
        self.by_name.get(name).copied()
    }

    pub fn intern(&mut self, name: &Arc<str>) -> Sym {
        if let Some(sym) = self.by_name.get(&**name) {
            return *sym;
        }
        let sym = Sym(u32::try_from(self.names.len()).expect("fewer than 2^32 distinct names"));
        self.names.push(name.clone());
        self.by_name.insert(name.clone(), sym);
        sym
    }

    /// The shared copy of a name if it is known, else a new one; never interns.
    pub fn share(&self, name: &str) -> Arc<str> {
        match self.by_name.get_key_value(name) {
            Some((shared, _)) => shared.clone(),
            None => Arc::from(name),
        }
    }

    pub fn name(&self, sym: Sym) -> &Arc<str> {
        &self.names[sym.0 as usize]
    }

    pub fn is_valid(&self, sym: Sym) -> bool {
        (sym.0 as usize) < self.names.len()
    }
}
