//! A map that is looked up all the time and walked in key order now and
//! then, which a steady flow of insertions and removals does not make
//! allocate.
//!
//! The core keeps its checkouts by handle: every checkout and checkin looks
//! one up, adds or removes one; status, lmremove, a reread and shutdown walk
//! them in handle order. Handles only grow, so in a B-tree the checkouts
//! held at any time are a window sliding to the right: a node is split
//! every few insertions at one end and merged every few removals at the
//! other, an allocation and a free each time. A hash table keeps its room
//! when entries leave, and takes no more memory per entry than the B-tree
//! did; the rare walks in order sort the keys first.

use crate::IdHasher;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash};

/// A map walked in key order (see the module's note on what it is for).
#[derive(Debug, Clone)]
pub(crate) struct OrderedMap<K, V> {
    map: HashMap<K, V, BuildHasherDefault<IdHasher>>,
}

impl<K, V> Default for OrderedMap<K, V> {
    fn default() -> Self {
        OrderedMap {
            map: HashMap::default(),
        }
    }
}

impl<K: Copy + Ord + Hash, V> OrderedMap<K, V> {
    pub(crate) fn new() -> Self {
        OrderedMap::default()
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub(crate) fn contains_key(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.map.get_mut(key)
    }

    /// Adds `key`, or replaces its value (returning the old one).
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.map.insert(key, value)
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        self.map.remove(key)
    }

    /// The entries in key order (and, reversed, from the largest key).
    /// Each walk sorts the keys: it is for the rare walks.
    pub(crate) fn iter(&self) -> Iter<'_, K, V> {
        let mut keys: Vec<&K> = self.map.keys().collect();
        keys.sort_unstable();
        Iter {
            map: &self.map,
            keys: keys.into_iter(),
        }
    }

    pub(crate) fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + '_ {
        self.iter().map(|(k, _)| k)
    }

    #[cfg(test)]
    pub(crate) fn values(&self) -> impl DoubleEndedIterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }

    /// Every value, in no particular order.
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> + '_ {
        self.map.values_mut()
    }
}

impl<K: Copy + Ord + Hash, V> std::ops::Index<&K> for OrderedMap<K, V> {
    type Output = V;

    /// The value of `key`, which must be there (as a `BTreeMap`'s).
    fn index(&self, key: &K) -> &V {
        &self.map[key]
    }
}

impl<'a, K: Copy + Ord + Hash, V> IntoIterator for &'a OrderedMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Iter<'a, K, V> {
        self.iter()
    }
}

/// An [`OrderedMap`]'s entries in key order.
pub(crate) struct Iter<'a, K, V> {
    map: &'a HashMap<K, V, BuildHasherDefault<IdHasher>>,
    keys: std::vec::IntoIter<&'a K>,
}

impl<'a, K: Copy + Ord + Hash, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        let k = self.keys.next()?;
        self.map.get_key_value(k)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.keys.size_hint()
    }
}

impl<K: Copy + Ord + Hash, V> DoubleEndedIterator for Iter<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let k = self.keys.next_back()?;
        self.map.get_key_value(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, u32),
        Remove(u16),
        /// An insertion after every key so far, as handles come.
        Append(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u16..64, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            (0u16..64).prop_map(Op::Remove),
            any::<u32>().prop_map(Op::Append),
        ]
    }

    proptest! {
        /// Whatever is inserted and removed, in whatever order, it holds
        /// and walks what a `BTreeMap` would, both ways.
        #[test]
        fn it_is_a_btree_map_in_every_way_the_core_looks(ops in proptest::collection::vec(op(), 0..200)) {
            let mut ours = OrderedMap::new();
            let mut model = BTreeMap::new();
            let mut next = 1000u32;
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        let k = u32::from(k);
                        prop_assert_eq!(ours.insert(k, v), model.insert(k, v));
                    }
                    Op::Remove(k) => {
                        let k = u32::from(k);
                        prop_assert_eq!(ours.remove(&k), model.remove(&k));
                    }
                    Op::Append(v) => {
                        next += 1;
                        prop_assert_eq!(ours.insert(next, v), model.insert(next, v));
                    }
                }
                prop_assert_eq!(ours.len(), model.len());
                prop_assert_eq!(ours.is_empty(), model.is_empty());
                let walked: Vec<(u32, u32)> = ours.iter().map(|(k, v)| (*k, *v)).collect();
                let want: Vec<(u32, u32)> = model.iter().map(|(k, v)| (*k, *v)).collect();
                prop_assert_eq!(&walked, &want);
                let back: Vec<u32> = ours.keys().rev().copied().collect();
                let want_back: Vec<u32> = model.keys().rev().copied().collect();
                prop_assert_eq!(back, want_back);
                for k in 0..64u32 {
                    prop_assert_eq!(ours.get(&k), model.get(&k));
                    prop_assert_eq!(ours.contains_key(&k), model.contains_key(&k));
                }
            }
            let mut all: Vec<u32> = ours.values_mut().map(|v| *v).collect();
            all.sort_unstable();
            let mut want: Vec<u32> = model.values().copied().collect();
            want.sort_unstable();
            prop_assert_eq!(all, want);
        }
    }
}
