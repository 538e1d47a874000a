//! The OpenAPI 3.0 to JSON Schema conversion (`streamspec_codegen::jsonschema`) on arbitrary documents:
//! it may refuse one, never panic. Seeds: the project's specs as JSON.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streamspec_fuzz::converter::check(data));
