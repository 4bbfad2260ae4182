//! What the tracker publishes through the `metrics` facade (feature `metrics`).
//!
//! Gauges, set by the app server that takes a history sample (once per
//! [`SAMPLE_EVERY`](crate::SAMPLE_EVERY) per namespace, so N app servers do not do the work N
//! times; each process keeps the value it last set, so aggregate across instances with
//! `max`):
//!
//! | name | labels | value |
//! |---|---|---|
//! | `active_users_active_entries` | `namespace` | [`Tracker::count`](crate::Tracker::count) |
//! | `active_users_distinct` | `namespace`, `field` | the distinct count of each indexed field |
//! | `active_users_unique_visitors_last_hour` | `namespace` | [`Tracker::unique`](crate::Tracker::unique) over an hour (with history on) |
//!
//! Counters, the tracker's own [`Stats`](crate::Stats), brought up to date at every flush:
//! `active_users_recorded_total` (label `outcome`: `queued`, `coalesced`, `excluded`,
//! `no_entry`, `invalid`, `refused`), `active_users_written_total`, `active_users_stale_total`,
//! `active_users_dropped_total`, `active_users_over_capacity_total`,
//! `active_users_truncated_total`, `active_users_write_errors_total`,
//! `active_users_undecodable_total`, each with the `namespace` label.

use crate::core::Counts;
use crate::tracker::Stats;
use std::sync::Once;

static DESCRIBED: Once = Once::new();

fn describe() {
    DESCRIBED.call_once(|| {
        metrics::describe_gauge!(
            "active_users_active_entries",
            "Active entries (user x session x IP) of the namespace"
        );
        metrics::describe_gauge!(
            "active_users_distinct",
            "Distinct active values of an indexed field (active users for user_id)"
        );
        metrics::describe_gauge!(
            "active_users_unique_visitors_last_hour",
            "Unique visitors over the last hour (HyperLogLog)"
        );
        metrics::describe_counter!(
            "active_users_recorded_total",
            "Requests offered to the tracker, by outcome"
        );
        metrics::describe_counter!("active_users_written_total", "Entries written to the store");
    });
}

/// Sets the gauges from a sample's counts.
pub(crate) fn gauges(namespace: &str, counts: &Counts, unique_hour: Option<u64>) {
    describe();
    let namespace = namespace.to_owned();
    metrics::gauge!("active_users_active_entries", "namespace" => namespace.clone())
        .set(counts.entries as f64);
    for (field, n) in &counts.distinct {
        metrics::gauge!(
            "active_users_distinct",
            "namespace" => namespace.clone(),
            "field" => field.clone()
        )
        .set(*n as f64);
    }
    if let Some(unique) = unique_hour {
        metrics::gauge!("active_users_unique_visitors_last_hour", "namespace" => namespace)
            .set(unique as f64);
    }
}

/// Brings the counters up to the tracker's stats.
pub(crate) fn counters(namespace: &str, stats: &Stats) {
    describe();
    let recorded = [
        ("queued", stats.queued),
        ("coalesced", stats.coalesced),
        ("excluded", stats.excluded),
        ("no_entry", stats.no_entry),
        ("invalid", stats.invalid),
        ("refused", stats.refused),
    ];
    for (outcome, n) in recorded {
        metrics::counter!(
            "active_users_recorded_total",
            "namespace" => namespace.to_owned(),
            "outcome" => outcome
        )
        .absolute(n);
    }
    let totals = [
        ("active_users_written_total", stats.written),
        ("active_users_stale_total", stats.stale),
        ("active_users_dropped_total", stats.dropped),
        ("active_users_over_capacity_total", stats.over_capacity),
        ("active_users_truncated_total", stats.truncated),
        ("active_users_write_errors_total", stats.write_errors),
        ("active_users_undecodable_total", stats.undecodable),
    ];
    for (name, n) in totals {
        metrics::counter!(name, "namespace" => namespace.to_owned()).absolute(n);
    }
}
