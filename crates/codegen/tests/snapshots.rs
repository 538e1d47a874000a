//! Snapshot tests of generated output, one small spec per feature of the generators, as progenitor
//! and typify test theirs: `tests/specs/<feature>.yaml` against `tests/output/<feature>.server.rs`
//! and `tests/output/<feature>.schema.json`; a spec the generators refuse against
//! `tests/output/<feature>.findings.txt`. A failed snapshot shows the diff; to accept a change, run
//! `EXPECTORATE=overwrite cargo test -p streamspec-codegen --test snapshots` and review the diff.

use std::path::{Path, PathBuf};

use streamspec_codegen::breaking::changes;
use streamspec_codegen::generate::generate_api;
use streamspec_codegen::lint::lint;
use streamspec_codegen::registry::Api;
use streamspec_codegen::spec::SpecDocument;

fn here() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The spec text of a feature, and the path its headers name.
fn spec(feature: &str) -> (PathBuf, String) {
    let relative = Path::new("tests/specs").join(format!("{feature}.yaml"));
    let text = std::fs::read_to_string(here().join(&relative)).unwrap();
    (relative, text)
}

/// Generates the feature's spec as an API of its own and compares the server and the JSON Schema.
fn generates(feature: &'static str, trait_name: &'static str) {
    let (relative, text) = spec(feature);
    let api = Api { spec: "", module: feature, trait_name, title: feature };
    let root = here().join("../..");
    let generated = generate_api(&api, &relative, &text, &root)
        .unwrap_or_else(|error| panic!("{feature}: {error:#}"));
    let output = here().join("tests/output");
    expectorate::assert_contents(output.join(format!("{feature}.server.rs")), &generated.server);
    expectorate::assert_contents(output.join(format!("{feature}.schema.json")), &generated.schemas);
}

#[test]
fn security_schemes() {
    generates("security", "SecurityApi");
}

#[test]
fn path_and_query_parameters() {
    generates("parameters", "ParametersApi");
}

#[test]
fn defaults_and_bounds() {
    generates("defaults_and_bounds", "DefaultsApi");
}

/// A parameter has one Rust type on both sides: the server's input takes the type the client's
/// builder takes (typify's choice from the bounds: `NonZeroU32` for an `int32` with `minimum: 1`), so a
/// proxy passes what it receives on without a conversion.
#[test]
fn a_parameter_has_one_type_on_client_and_server() {
    use heck::ToPascalCase;
    use quote::ToTokens;

    let (relative, text) = spec("defaults_and_bounds");
    let api = Api { spec: "", module: "defaults", trait_name: "DefaultsApi", title: "defaults" };
    let generated = generate_api(&api, &relative, &text, &here().join("../..")).unwrap();
    let structs = |source: &str| -> Vec<syn::ItemStruct> {
        let file = syn::parse_file(source).unwrap();
        let mut found = Vec::new();
        let mut items: Vec<syn::Item> = file.items;
        while let Some(item) = items.pop() {
            match item {
                syn::Item::Struct(item) => found.push(item),
                syn::Item::Mod(module) => {
                    items.extend(module.content.into_iter().flat_map(|c| c.1))
                }
                _ => {}
            }
        }
        found
    };
    // The type inside the builder's `Result<Option<T>, String>` and the input's `Option<T>`.
    fn unwrapped(ty: &syn::Type) -> String {
        if let syn::Type::Path(path) = ty
            && let Some(last) = path.path.segments.last()
            && (last.ident == "Result" || last.ident == "Option")
            && let syn::PathArguments::AngleBracketed(arguments) = &last.arguments
            && let Some(syn::GenericArgument::Type(inner)) = arguments.args.first()
        {
            return unwrapped(inner);
        }
        ty.to_token_stream().to_string()
    }
    let field_type = |item: &syn::ItemStruct, name: &str| -> String {
        let field =
            item.fields.iter().find(|field| field.ident.as_ref().is_some_and(|i| i == name));
        unwrapped(&field.unwrap_or_else(|| panic!("{} has no `{name}`", item.ident)).ty)
    };
    let client = structs(&generated.client);
    let server = structs(&generated.server);
    let builder = client.iter().find(|item| item.ident == "list_things".to_pascal_case()).unwrap();
    let input = server.iter().find(|item| item.ident == "ListThingsInput").unwrap();
    let mut compared = 0;
    for name in ["limit", "offset", "order", "code"] {
        assert_eq!(field_type(input, name), field_type(builder, name), "the type of `{name}`");
        compared += 1;
    }
    assert_eq!(compared, 4);
    assert_eq!(field_type(input, "limit"), ":: std :: num :: NonZeroU64");
}

#[test]
fn several_statuses() {
    generates("statuses", "StatusesApi");
}

#[test]
fn response_headers() {
    generates("headers", "HeadersApi");
}

#[test]
fn validation_only_rules() {
    generates("validation_only", "SettingsApi");
}

/// What the generators cannot serve is refused with a finding at its place, by lint and so by
/// generation, never left out of the server in silence.
#[test]
fn refusals() {
    let (relative, text) = spec("refusals");
    let doc = SpecDocument::parse(&relative, text.clone()).unwrap();
    let findings: Vec<String> = lint(&doc).iter().map(ToString::to_string).collect();
    expectorate::assert_contents(
        here().join("tests/output/refusals.findings.txt"),
        &(findings.join("\n") + "\n"),
    );
    let api = Api { spec: "", module: "refusals", trait_name: "RefusalsApi", title: "refusals" };
    let refused = generate_api(&api, &relative, &text, &here().join("../..")).unwrap_err();
    assert!(refused.to_string().contains("has lint findings; fix them first"), "{refused:#}");
}

/// An optional field added to a request and a response schema breaks no one: `lint --breaking`
/// lists it as compatible, and the types of both versions are kept for `tests/downstream`, whose
/// tests are a downstream crate written once and compiled against each.
#[test]
fn an_added_optional_field() {
    let mut documents = Vec::new();
    for version in ["before", "after"] {
        let feature = format!("evolution_{version}");
        let (relative, text) = spec(&feature);
        let api =
            Api { spec: "", module: "evolution", trait_name: "EvolutionApi", title: "evolution" };
        let generated = generate_api(&api, &relative, &text, &here().join("../.."))
            .unwrap_or_else(|error| panic!("{feature}: {error:#}"));
        expectorate::assert_contents(
            here().join(format!("tests/output/{feature}.types.rs")),
            &generated.types,
        );
        documents.push(SpecDocument::parse(&relative, text).unwrap().value);
    }
    let found = changes(&documents[0], &documents[1]);
    assert_eq!(found.breaking, [], "an optional field breaks no one");
    let compatible: Vec<String> = found.compatible.iter().map(ToString::to_string).collect();
    assert_eq!(compatible.len(), 2, "{compatible:#?}");
    assert!(compatible.iter().all(|change| change.contains("description")), "{compatible:#?}");
}
