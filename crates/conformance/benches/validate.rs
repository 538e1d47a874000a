//! Run with: cargo bench -p streamspec-conformance
//!
//! Validation speed of the compiled schemas, valid and invalid, and the one-time cost of compiling them.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use streamspec_conformance::{Api, Catalog};

fn key(index: usize) -> Value {
    json!({
        "id": "0b5c9f2e-6a55-4c1e-9a52-1f0d8a4b7c31",
        "user_id": "5f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
        "name": format!("key {index}"),
        "stream_key": "9d2f7a61-3c4b-4e58-8f1a-2b6c5d4e3f70",
        "rtmp_url": "rtmp://rtmp.aiozstream.network:1935/live",
        "save": true,
        "type": "video",
        "created_at": "2026-11-23T10:15:30Z",
        "updated_at": "2026-11-23T10:15:30Z",
    })
}

fn benches(c: &mut Criterion) {
    c.bench_function("build the catalog (every schema of both APIs)", |b| {
        b.iter(|| black_box(Catalog::build().unwrap()))
    });

    let catalog = Catalog::get();
    let live_stream_key = catalog.schema(Api::Aioz, "LiveStreamKey").unwrap();
    let valid_key = key(0);
    let mut invalid_key = key(0);
    // Responses are read tolerantly, so what is still wrong is a value of the wrong type.
    invalid_key["id"] = json!(7);
    c.bench_function("LiveStreamKey, valid", |b| {
        b.iter(|| live_stream_key.validate(black_box(&valid_key)))
    });
    c.bench_function("LiveStreamKey, invalid", |b| {
        b.iter(|| live_stream_key.validate(black_box(&invalid_key)))
    });

    let list =
        catalog.operation(Api::Aioz, "list_live_stream_keys").unwrap().response(200).unwrap();
    let page = json!({"status": "success", "data": {"live_stream_keys": (0..100).map(key).collect::<Vec<_>>(), "total": 100}});
    c.bench_function("list of 100 keys, valid", |b| b.iter(|| list.validate(black_box(&page))));

    let update =
        catalog.operation(Api::Storm, "update_ingest_settings").unwrap().request().unwrap();
    let valid_update = json!({"data": {"attributes": {
        "allowStreamIngest": true, "authorizationEnabled": true, "authType": "local",
        "authUsers": [{"username": "admin", "password": "qwerty123"}, {"token": "t", "expire": 1798761600000u64}],
    }}});
    let invalid_update =
        json!({"data": {"attributes": {"authorizationEnabled": true, "authType": "request"}}});
    c.bench_function("ingest settings update, valid", |b| {
        b.iter(|| update.validate(black_box(&valid_update)))
    });
    c.bench_function("ingest settings update, invalid", |b| {
        b.iter(|| update.validate(black_box(&invalid_update)))
    });
}

criterion_group!(validate, benches);
criterion_main!(validate);
