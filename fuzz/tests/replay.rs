//! Every committed fuzz input, seeds and regressions, through its target's checks: a crash the fuzzer
//! found stays fixed once its input is in `regressions/<target>/`.

use std::path::Path;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    for folder in ["seeds", "regressions"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder).join(target);
        for entry in std::fs::read_dir(&dir).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.is_file() && path.file_name().is_some_and(|name| name != ".gitkeep") {
                found.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    found.sort();
    found
}

fn replay(target: &str, check: fn(&[u8]), at_least: usize) {
    let inputs = inputs(target);
    assert!(inputs.len() >= at_least, "{target}: {} inputs", inputs.len());
    for (path, data) in inputs {
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{path} fails its check again");
    }
}

#[test]
fn decode_request_inputs() {
    replay("decode_request", streamspec_fuzz::check_request, 7);
}

#[test]
fn validate_payload_inputs() {
    replay("validate_payload", streamspec_fuzz::check_payload, 40);
}

#[test]
fn openapi_to_jsonschema_inputs() {
    replay("openapi_to_jsonschema", streamspec_fuzz::converter::check, 3);
}

#[test]
fn rtmp_input_inputs() {
    replay("rtmp_input", streamspec_fuzz::rtmp::check, 8);
}
