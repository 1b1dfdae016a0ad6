//! The traces `up` keeps in memory: the last `max_traces` traces or `max_bytes` of spans, whichever
//! bound is reached first. The oldest trace goes first; what goes is counted, and the totals of
//! `status` keep counting it.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

use indexmap::IndexMap;

use super::model::{self, Detail, Span, Summary, Totals};

/// `[traces]`'s bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub max_traces: usize,
    pub max_bytes: usize,
}

pub struct Store {
    bounds: Bounds,
    inner: Mutex<Inner>,
    hasher: RandomState,
}

/// What a kept span's id costs in `Held::ids`, beyond `Span::weight`: the hash and the table's slack.
const ID_WEIGHT: usize = 16;

#[derive(Default)]
struct Inner {
    /// By trace id, oldest first (by the arrival of its first span).
    traces: IndexMap<String, Held>,
    bytes: usize,
    totals: Totals,
    /// What evicted traces added to the totals.
    gone: Totals,
}

#[derive(Default)]
struct Held {
    spans: Vec<Span>,
    /// Hashes of the span ids kept: an exporter that retries a batch whose answer it missed
    /// sends the same spans again, which must not count twice.
    ids: HashSet<u64>,
    bytes: usize,
    /// `summarize(spans)`, made when first asked for and forgotten when a span arrives: `status`
    /// and the Traces panel ask often, and most traces are complete by then.
    summary: Option<Summary>,
}

impl Held {
    fn summary(&mut self) -> &Summary {
        self.summary.get_or_insert_with(|| model::summarize(&self.spans))
    }
}

impl Store {
    pub fn new(bounds: Bounds) -> Store {
        Store { bounds, inner: Mutex::new(Inner::default()), hasher: RandomState::new() }
    }

    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// Keeps `spans`, evicting the oldest traces until the bounds hold again.
    pub fn add(&self, spans: Vec<Span>) {
        // Weighed before the lock: `status` and the Traces panel wait on it.
        let weighed: Vec<(usize, u64, Span)> = spans
            .into_iter()
            .map(|span| (span.weight() + ID_WEIGHT, self.hasher.hash_one(&span.span_id), span))
            .collect();
        let mut inner = self.lock();
        for (weight, id, span) in weighed {
            if inner.traces.get(&span.trace_id).is_some_and(|held| held.ids.contains(&id)) {
                continue;
            }
            inner.totals.spans += 1;
            if weight > self.bounds.max_bytes {
                inner.totals.dropped_spans += 1;
                continue;
            }
            let held = if let Some(held) = inner.traces.get_mut(&span.trace_id) {
                held
            } else {
                inner.totals.traces += 1;
                inner.traces.entry(span.trace_id.clone()).or_default()
            };
            held.bytes += weight;
            held.ids.insert(id);
            held.spans.push(span);
            held.summary = None;
            inner.bytes += weight;
            while inner.bytes > self.bounds.max_bytes || inner.traces.len() > self.bounds.max_traces {
                inner.evict_oldest();
            }
        }
    }

    /// The kept traces, newest first.
    pub fn list(&self) -> Vec<Summary> {
        let mut inner = self.lock();
        inner.traces.values_mut().rev().map(|held| held.summary().clone()).collect()
    }

    /// A trace by its id, by the AG-UI run id it carries, or `last`: the newest AG-UI run.
    pub fn find(&self, wanted: &str) -> Option<Detail> {
        let inner = self.lock();
        let held = if wanted == "last" {
            inner.traces.values().rev().find(|held| held.spans.iter().any(|s| s.attributes.contains_key(model::RUN_ID)))
        } else {
            inner.traces.get(wanted).or_else(|| {
                inner
                    .traces
                    .values()
                    .rev()
                    .find(|held| held.spans.iter().any(|s| s.text(model::RUN_ID) == Some(wanted)))
            })
        }?;
        let mut spans = held.spans.clone();
        // Added up without the lock: a big trace must not hold up the receiver.
        drop(inner);
        spans.sort_by_key(|s| s.start_ns);
        Some(Detail { summary: model::summarize(&spans), spans })
    }

    /// Since the store was made: the kept traces added up, plus what the evicted ones added.
    pub fn totals(&self) -> Totals {
        let mut inner = self.lock();
        let mut totals = inner.totals.clone();
        totals.input_tokens = inner.gone.input_tokens;
        totals.output_tokens = inner.gone.output_tokens;
        totals.cost = inner.gone.cost;
        totals.runs = inner.gone.runs;
        for held in inner.traces.values_mut() {
            let summary = held.summary();
            totals.runs += u64::from(summary.run_id.is_some());
            totals.input_tokens = totals.input_tokens.saturating_add(summary.input_tokens);
            totals.output_tokens = totals.output_tokens.saturating_add(summary.output_tokens);
            totals.cost += summary.cost;
        }
        totals
    }

    /// Counts a failure to forward a batch to the user's endpoint.
    pub fn forward_failed(&self) {
        self.lock().totals.forward_failures += 1;
    }

    /// Counts spans that never reached the store (a body that could not be decoded).
    pub fn dropped(&self, spans: u64) {
        self.lock().totals.dropped_spans += spans;
    }

    /// The bytes the kept spans weigh (`Span::weight`).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every change is one push or one
        // removal), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Inner {
    fn evict_oldest(&mut self) {
        let Some((_, mut held)) = self.traces.shift_remove_index(0) else { return };
        self.bytes -= held.bytes;
        self.totals.evicted_traces += 1;
        let summary = held.summary();
        self.gone.input_tokens = self.gone.input_tokens.saturating_add(summary.input_tokens);
        self.gone.output_tokens = self.gone.output_tokens.saturating_add(summary.output_tokens);
        self.gone.cost += summary.cost;
        self.gone.runs += u64::from(summary.run_id.is_some());
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn span(trace: usize, id: usize, attributes: &[(&str, Value)]) -> Span {
        Span {
            trace_id: format!("{trace:032x}"),
            span_id: format!("{id:016x}"),
            parent_id: None,
            name: "work".to_owned(),
            service: "agui".to_owned(),
            kind: "internal".to_owned(),
            start_ns: id as u64,
            end_ns: id as u64 + 10,
            error: None,
            attributes: attributes.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
            events: Vec::new(),
        }
    }

    #[test]
    fn the_oldest_traces_go_first_when_the_count_is_reached_and_the_totals_keep_them() {
        let store = Store::new(Bounds { max_traces: 2, max_bytes: 1 << 20 });
        for trace in 0..3 {
            store.add(vec![span(
                trace,
                trace,
                &[(model::RUN_ID, format!("run{trace}").into()), (model::INPUT_TOKENS, 5.into())],
            )]);
        }
        let kept: Vec<String> = store.list().into_iter().filter_map(|s| s.run_id).collect();
        assert_eq!(kept, ["run2", "run1"]);
        assert!(store.find("run0").is_none());
        assert_eq!(store.find("last").unwrap().summary.run_id.as_deref(), Some("run2"));
        assert_eq!(store.find(&format!("{:032x}", 1)).unwrap().summary.run_id.as_deref(), Some("run1"));
        let totals = store.totals();
        assert_eq!((totals.runs, totals.traces, totals.evicted_traces, totals.input_tokens), (3, 3, 1, 15));
    }

    #[test]
    fn a_batch_sent_again_is_kept_once() {
        let store = Store::new(Bounds { max_traces: 10, max_bytes: 1 << 20 });
        let batch = vec![span(1, 1, &[(model::INPUT_TOKENS, 5.into())]), span(1, 2, &[])];
        store.add(batch.clone());
        store.add(batch);
        let totals = store.totals();
        assert_eq!((totals.spans, totals.input_tokens), (2, 5));
        assert_eq!(store.find(&format!("{:032x}", 1)).unwrap().spans.len(), 2);
    }

    #[test]
    fn the_byte_bound_holds_and_a_span_bigger_than_it_is_dropped() {
        let one = span(0, 0, &[]).weight() + ID_WEIGHT;
        let store = Store::new(Bounds { max_traces: 1000, max_bytes: one * 10 });
        for i in 0..100 {
            store.add(vec![span(i, i, &[])]);
            assert!(store.bytes() <= one * 10);
        }
        assert_eq!(store.list().len(), 10);
        store.add(vec![span(500, 500, &[("prompt", "x".repeat(one * 20).into())])]);
        let totals = store.totals();
        assert_eq!((totals.dropped_spans, totals.evicted_traces, totals.spans), (1, 90, 101));
    }
}
