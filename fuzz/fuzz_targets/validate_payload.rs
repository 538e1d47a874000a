//! The conformance validator on arbitrary payloads against every request schema of every API: valid
//! or violations, never a panic, and no message repeats a string of the payload.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streamspec_fuzz::check_payload(data));
