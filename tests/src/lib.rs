//! End-to-end tests across streamspec's crates; the tests are in `tests/tests/`. This crate depends on
//! nothing but `streamspec-server` and tokio, which is what its downstream test proves is enough.
