//! A map looked up all the time and walked in key order now and then,
//! which a steady flow of insertions and removals does not make allocate.
//!
//! The core keeps its checkouts by handle: every checkout and checkin looks
//! one up, adds or removes one; status pages, lmremove, a reread and
//! shutdown walk them in handle order, a status page from a given handle
//! on. Handles only grow, so in a B-tree the checkouts held at any time
//! are a window sliding to the right: a node is split every few insertions
//! at one end and merged every few removals at the other, an allocation and
//! a free each time. Here the values live in a hash table, which keeps its
//! room as entries come and go, and the keys in a sorted vector beside it,
//! where a new key (the highest so far) is pushed at the end. A removed key
//! stays in the vector, skipped when walking, until removed keys outnumber
//! the others: they are then swept out in place. Walks and ranges are
//! those of the vector; a key that comes out of order (a seat restored
//! from the store or replicated) is inserted at its place.

use crate::IdHasher;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash};
use std::ops::{Bound, RangeBounds};

/// Removed keys kept in the order beyond the live ones before a sweep.
const SWEEP_SLACK: usize = 64;

/// A map walked in key order (see the module's note on what it is for).
#[derive(Debug, Clone)]
pub(crate) struct OrderedMap<K, V> {
    map: HashMap<K, V, BuildHasherDefault<IdHasher>>,
    /// Every key of `map`, sorted, and keys removed since the last sweep.
    order: Vec<K>,
}

impl<K, V> Default for OrderedMap<K, V> {
    fn default() -> Self {
        OrderedMap {
            map: HashMap::default(),
            order: Vec::new(),
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
        let old = self.map.insert(key, value);
        if old.is_none() {
            match self.order.last() {
                Some(last) if *last >= key => {
                    // Out of order, or a removed key back: at its place.
                    if let Err(at) = self.order.binary_search(&key) {
                        self.order.insert(at, key);
                    }
                }
                _ => self.order.push(key),
            }
        }
        old
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let value = self.map.remove(key)?;
        if self.order.len() > 2 * self.map.len() + SWEEP_SLACK {
            let map = &self.map;
            self.order.retain(|k| map.contains_key(k));
        }
        Some(value)
    }

    /// The entries in key order (and, reversed, from the largest key).
    pub(crate) fn iter(&self) -> Iter<'_, K, V> {
        Iter {
            map: &self.map,
            keys: self.order.iter(),
        }
    }

    /// The entries whose keys are in `range`, in key order.
    pub(crate) fn range(&self, range: impl RangeBounds<K>) -> Iter<'_, K, V> {
        let from = match range.start_bound() {
            Bound::Included(k) => self.order.partition_point(|x| x < k),
            Bound::Excluded(k) => self.order.partition_point(|x| x <= k),
            Bound::Unbounded => 0,
        };
        let to = match range.end_bound() {
            Bound::Included(k) => self.order.partition_point(|x| x <= k),
            Bound::Excluded(k) => self.order.partition_point(|x| x < k),
            Bound::Unbounded => self.order.len(),
        };
        Iter {
            map: &self.map,
            keys: self.order[from..to.max(from)].iter(),
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

/// An [`OrderedMap`]'s entries in key order: its sorted keys, skipping
/// those removed.
pub(crate) struct Iter<'a, K, V> {
    map: &'a HashMap<K, V, BuildHasherDefault<IdHasher>>,
    keys: std::slice::Iter<'a, K>,
}

impl<'a, K: Copy + Ord + Hash, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        let map = self.map;
        self.keys.find_map(|k| map.get_key_value(k))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, self.keys.size_hint().1)
    }
}

impl<K: Copy + Ord + Hash, V> DoubleEndedIterator for Iter<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let map = self.map;
        self.keys
            .rfind(|k| map.contains_key(k))
            .and_then(|k| map.get_key_value(k))
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
                for after in [0u32, 7, 31, 63, 1000, 1010] {
                    let page: Vec<u32> = ours
                        .range((Bound::Excluded(after), Bound::Unbounded))
                        .map(|(k, _)| *k)
                        .collect();
                    let want: Vec<u32> = model
                        .range((Bound::Excluded(after), Bound::Unbounded))
                        .map(|(k, _)| *k)
                        .collect();
                    prop_assert_eq!(page, want);
                    let upto: Vec<u32> = ours.range(..=after).map(|(k, _)| *k).collect();
                    let want: Vec<u32> = model.range(..=after).map(|(k, _)| *k).collect();
                    prop_assert_eq!(upto, want);
                }
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

    #[test]
    fn removed_keys_are_swept_in_place_and_walks_skip_them() {
        let mut m = OrderedMap::new();
        for k in 1..=1000u64 {
            m.insert(k, k * 10);
        }
        let room = m.order.capacity();
        for k in 1..=990u64 {
            assert_eq!(m.remove(&k), Some(k * 10));
        }
        assert!(
            m.order.len() <= 2 * m.len() + SWEEP_SLACK,
            "{}",
            m.order.len()
        );
        assert_eq!(m.order.capacity(), room, "swept in place");
        assert_eq!(
            m.keys().copied().collect::<Vec<_>>(),
            (991..=1000).collect::<Vec<_>>()
        );
        // A key that comes back out of order takes its place.
        m.insert(5, 50);
        assert_eq!(m.keys().next(), Some(&5));
        assert_eq!(m.range(6..).map(|(k, _)| *k).next(), Some(991));
        assert_eq!(m.iter().next_back(), Some((&1000, &10_000)));
    }
}
