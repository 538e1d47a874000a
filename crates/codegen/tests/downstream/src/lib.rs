//! The types `streamspec-codegen` generates from `tests/specs/evolution_before.yaml` and from
//! `evolution_after.yaml`, the same spec with an optional `description` added to a request and a
//! response schema. Their snapshots are kept current by the `snapshots` test of `streamspec-codegen`;
//! `tests/user.rs` is a downstream crate written once and compiled against both.
//!
//! Downstream code cannot build a generated struct with a literal, which would stop compiling when
//! a field is added:
//!
//! ```compile_fail,E0639
//! let thing = streamspec_codegen_downstream::before::Thing {
//!     id: "1".to_owned(),
//!     name: "one".to_owned(),
//!     size: None,
//! };
//! ```
//!
//! nor match one without `..`:
//!
//! ```compile_fail,E0638
//! fn name(thing: streamspec_codegen_downstream::before::Thing) -> String {
//!     let streamspec_codegen_downstream::before::Thing { id: _, name, size: _ } = thing;
//!     name
//! }
//! ```
//!
//! It builds them with `new` and field assignment instead:
//!
//! ```
//! let mut thing = streamspec_codegen_downstream::before::Thing::new("1".to_owned(), "one".to_owned());
//! thing.size = Some(3);
//! ```

/// What the builders' setters of optional fields take, as in `streamspec-types`.
pub use streamspec_types::IntoOptional;

/// The spec before the field is added.
#[path = "../../output/evolution_before.types.rs"]
pub mod before;

/// The spec with the optional field added.
#[path = "../../output/evolution_after.types.rs"]
pub mod after;
