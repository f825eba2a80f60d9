//! Micro-benchmarks of the core paths (criterion, short settings for 2-core machines).
//!
//! `cargo bench --bench micro`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use lightwidget::lifecycle::{self, Observation};
use lightwidget::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;

fn record(i: usize) -> AccountRecord {
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let account =
        NewAccount::new("o", ConnectionKind::Consumer, format!("u{i}"), "user").into_account();
    let token = Token::new("IGAAbench", now - TimeDelta::days(35)).expiring_in(60 * 86_400);
    let mut state = TokenState::connected(token, now);
    state.next_action_at = Some(now);
    AccountRecord {
        account,
        state,
        version: 0,
    }
}

fn lifecycle_benches(c: &mut Criterion) {
    let policy = RefreshPolicy::default();
    let rec = record(0);
    let now = rec.state.next_action_at.unwrap();
    let mut rng = SmallRng::seed_from_u64(1);
    let fresh = Token::new("IGAAnew", now).expiring_in(60 * 86_400);
    c.bench_function("lifecycle_apply_refreshed", |b| {
        b.iter(|| {
            lifecycle::apply(
                black_box(&rec),
                Observation::Refreshed(fresh.clone()),
                now,
                &policy,
                &mut rng,
            )
        })
    });
    let transient = ProviderError::Transient {
        retry_after: None,
        message: "HTTP 503".into(),
    };
    c.bench_function("lifecycle_apply_transient", |b| {
        b.iter(|| {
            lifecycle::apply(
                black_box(&rec),
                Observation::Failed(transient.clone()),
                now,
                &policy,
                &mut rng,
            )
        })
    });
    c.bench_function("policy_schedule", |b| {
        b.iter(|| policy.schedule(black_box(&rec.state), now, &mut rng))
    });
    c.bench_function("policy_due_action", |b| {
        b.iter(|| policy.due_action(black_box(&rec.state), now))
    });
}

fn memory_store_benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = Arc::new(InMemoryStore::new());
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    rt.block_on(async {
        for i in 0..10_000 {
            store.insert(&record(i), &[]).await.unwrap();
        }
    });
    let policy = RefreshPolicy::default();
    let mut rng = SmallRng::seed_from_u64(2);
    c.bench_function("memory_claim_commit_batch_500", |b| {
        b.iter(|| {
            rt.block_on(async {
                let batch = store
                    .claim_due(now, 500, Duration::from_secs(60), "bench")
                    .await
                    .unwrap();
                let ts: Vec<_> = batch
                    .iter()
                    .map(|r| {
                        let mut t = lifecycle::apply(
                            r,
                            Observation::Checked(CheckInfo::default()),
                            now,
                            &policy,
                            &mut rng,
                        );
                        // keep the account due so every iteration claims a full batch
                        t.state.next_action_at = Some(now);
                        t
                    })
                    .collect();
                store.commit_many(&ts).await
            })
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = lifecycle_benches, memory_store_benches
}
criterion_main!(benches);
