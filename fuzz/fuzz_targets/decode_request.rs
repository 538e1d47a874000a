//! The server adapter's request decoding (path, query, headers, body) for every API on arbitrary
//! requests: a 4xx for what it refuses, never a 500. The input format is `check_request`'s.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streamspec_fuzz::check_request(data));
