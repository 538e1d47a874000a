//! Turns each spec into the committed code under `generated/` folders: types and client from
//! progenitor, the server from [`crate::server`], JSON Schema from [`crate::jsonschema`]. Generation is
//! a pure function of the spec text (and the pinned generator versions), so a check can compare what
//! would be written with what is committed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use progenitor_impl::{
    GenerationSettings, Generator, HooksMode, InterfaceStyle, TagStyle, TypeImpl,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::lint;
use crate::registry::{APIS, Api};
use crate::spec::{SpecDocument, without_validation_only};

/// The folders this command owns: every file in them is generated, and one it did not produce is stale.
/// The first four hold a file per API ([`Generated::files`]); the server's also holds `apis.rs` and
/// the last one `bundles.rs`, both from the whole registry ([`registry_files`]).
pub const GENERATED_DIRS: [&str; 5] = [
    "crates/types/src/generated",
    "crates/client/src/generated",
    "crates/server/src/generated",
    "crates/conformance/schemas",
    "crates/conformance/src/generated",
];

/// What to run after a spec edit; printed by `--check`.
pub const COMMAND: &str = "cargo xtask regenerate";

/// Every generated file, by path relative to the project root, with its exact content.
pub fn generate_all(root: &Path) -> Result<BTreeMap<PathBuf, String>> {
    let mut files = BTreeMap::new();
    let mut prefixes = Vec::new();
    for api in APIS {
        let relative = api.spec_path();
        let text = std::fs::read_to_string(root.join(&relative))
            .with_context(|| format!("reading {}", relative.display()))?;
        let generated = generate_api(api, &relative, &text, root)?;
        prefixes.push(generated.path_prefixes.clone());
        files.extend(generated.files(api.module));
    }
    files.extend(registry_files(APIS, &prefixes, root)?);
    Ok(files)
}

/// The files generated from the registry as a whole: `streamspec_server::Api`, the enum of every API
/// with its name, spec, path prefixes and error envelope, and the conformance crate's `bundle`, which
/// embeds each API's JSON Schema bundle. `prefixes` are each API's [`crate::walk::path_prefixes`].
pub fn registry_files(
    apis: &[Api],
    prefixes: &[Vec<String>],
    root: &Path,
) -> Result<Vec<(PathBuf, String)>> {
    use heck::ToPascalCase;
    use quote::{format_ident, quote};

    let variants: Vec<proc_macro2::Ident> =
        apis.iter().map(|api| format_ident!("{}", api.module.to_pascal_case())).collect();
    let modules: Vec<proc_macro2::Ident> =
        apis.iter().map(|api| format_ident!("{}", api.module)).collect();
    let names: Vec<&str> = apis.iter().map(|api| api.module).collect();
    let specs: Vec<String> =
        apis.iter().map(|api| api.spec_path().display().to_string().replace('\\', "/")).collect();
    let docs: Vec<String> =
        apis.iter().zip(&specs).map(|(api, spec)| format!(" {} (`{spec}`).", api.title)).collect();
    let count = proc_macro2::Literal::usize_unsuffixed(apis.len());
    let expected = match names.as_slice() {
        [] => String::new(),
        [one] => format!("`{one}`"),
        [rest @ .., last] => {
            let rest: Vec<String> = rest.iter().map(|name| format!("`{name}`")).collect();
            format!("{} or `{last}`", rest.join(", "))
        }
    };
    let unknown = format!("unknown API `{{name}}`: expected {expected}");
    let prefix_lists = prefixes.iter().map(|list| quote!(&[#(#list),*]));
    let server = quote! {
        use crate::adapter::ErrorEnvelope;

        /// The APIs streamspec covers, as the registry of `streamspec-codegen` lists them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Api {
            #(#[doc = #docs] #variants,)*
        }

        impl Api {
            /// Every API, in the registry's order.
            pub const ALL: [Api; #count] = [#(Api::#variants),*];

            /// Its name on command lines and in look-ups, which is also its module: `aioz`.
            pub fn name(self) -> &'static str {
                match self {
                    #(Api::#variants => #names,)*
                }
            }

            /// Its spec, relative to the project root: `spec/aioz-stream.yaml`.
            pub fn spec(self) -> &'static str {
                match self {
                    #(Api::#variants => #specs,)*
                }
            }

            /// The served paths that belong to it: a request path equal to one, or under one.
            pub fn path_prefixes(self) -> &'static [&'static str] {
                match self {
                    #(Api::#variants => #prefix_lists,)*
                }
            }

            /// The API whose [`path_prefixes`](Api::path_prefixes) hold `path` (a request target's
            /// query is not part of it), if any.
            pub fn of_path(path: &str) -> Option<Api> {
                let path = path.split_once('?').map_or(path, |(path, _)| path);
                Api::ALL.into_iter().find(|api| {
                    api.path_prefixes().iter().any(|prefix| {
                        path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
                    })
                })
            }

            /// An error body in its envelope.
            pub fn error_body(self, message: &str) -> serde_json::Value {
                match self {
                    #(Api::#variants => crate::#modules::Envelope::body(message),)*
                }
            }

            /// An error response in its envelope.
            pub fn error_response(self, status: axum::http::StatusCode, message: &str) -> axum::response::Response {
                match self {
                    #(Api::#variants => crate::#modules::Envelope::response(status, message),)*
                }
            }
        }

        impl std::fmt::Display for Api {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for Api {
            type Err = String;
            fn from_str(name: &str) -> Result<Self, Self::Err> {
                Api::ALL.into_iter().find(|api| api.name() == name).ok_or_else(|| format!(#unknown))
            }
        }
    };
    let bundles: Vec<String> =
        apis.iter().map(|api| format!("../../schemas/{}.json", api.module)).collect();
    let documents: Vec<String> =
        apis.iter().map(|api| format!("../../schemas/{}.openapi.json", api.module)).collect();
    let conformance = quote! {
        use crate::Api;

        /// The JSON Schema bundle of `api`, as `cargo xtask regenerate` wrote it.
        pub(crate) fn bundle(api: Api) -> &'static str {
            match api {
                #(Api::#variants => include_str!(#bundles),)*
            }
        }

        /// The spec of `api` as JSON, as `cargo xtask regenerate` wrote it.
        pub(crate) fn openapi(api: Api) -> &'static str {
            match api {
                #(Api::#variants => include_str!(#documents),)*
            }
        }
    };
    let registry = Path::new("crates/codegen/src/registry.rs");
    let listed = format!("{apis:?}{prefixes:?}");
    let header = Header {
        spec: registry,
        digest: sha256_hex(&listed),
        rustfmt_config: root.join("rustfmt.toml"),
    };
    Ok(vec![
        (PathBuf::from(GENERATED_DIRS[2]).join("apis.rs"), header.render(&syn::parse2(server)?)?),
        (
            PathBuf::from(GENERATED_DIRS[4]).join("bundles.rs"),
            header.render(&syn::parse2(conformance)?)?,
        ),
    ])
}

/// The generated files of one API, each with its header, formatted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// For `streamspec-types`: progenitor's `types` module.
    pub types: String,
    /// For `streamspec-client`: the rest of progenitor's output.
    pub client: String,
    /// For `streamspec-server`: the trait, inputs, responses and router.
    pub server: String,
    /// For `streamspec-conformance`: the JSON Schema bundle.
    pub schemas: String,
    /// The spec itself as JSON, which the emulator serves (`get_spec`).
    pub openapi: String,
    /// The served paths that belong to the API ([`crate::walk::path_prefixes`]), for the
    /// registry's files.
    pub path_prefixes: Vec<String>,
}

impl Generated {
    /// Each file by its path relative to the project root: `<folder>/<module>.rs` (or `.json`), in
    /// the folder of [`GENERATED_DIRS`] it belongs to.
    pub fn files(self, module: &str) -> impl Iterator<Item = (PathBuf, String)> {
        let [types, client, server, schemas, _] = GENERATED_DIRS;
        [
            (types, "rs", self.types),
            (client, "rs", self.client),
            (server, "rs", self.server),
            (schemas, "json", self.schemas),
            (schemas, "openapi.json", self.openapi),
        ]
        .into_iter()
        .map(move |(folder, extension, content)| {
            (PathBuf::from(format!("{folder}/{module}.{extension}")), content)
        })
    }
}

/// Generates one API from its spec `text`; `spec_path` is how headers and messages name the spec, and
/// `root` the project root, whose `rustfmt.toml` formats the output. A spec with lint findings is
/// refused with all of them.
pub fn generate_api(api: &Api, spec_path: &Path, text: &str, root: &Path) -> Result<Generated> {
    let doc = SpecDocument::parse(spec_path, text.to_owned())?;
    let findings = lint::lint(&doc);
    if !findings.is_empty() {
        let listed: Vec<String> = findings.iter().map(ToString::to_string).collect();
        bail!("{} has lint findings; fix them first:\n{}", spec_path.display(), listed.join("\n"));
    }
    let header = Header {
        spec: spec_path,
        digest: sha256_hex(text),
        rustfmt_config: root.join("rustfmt.toml"),
    };
    // The code generators read the spec without the validation-only rules; the JSON Schema keeps them.
    let for_code = without_validation_only(&doc.value);
    let model: openapiv3::OpenAPI = serde_json::from_value(for_code.clone())
        .with_context(|| format!("{} is not an OpenAPI 3.0 document", spec_path.display()))?;
    let server_model = crate::server::model::read(&model)?;
    let error_statuses: BTreeMap<String, Vec<u16>> = server_model
        .operations
        .iter()
        .map(|operation| {
            let statuses = operation.responses.iter().map(|r| r.status).filter(|s| *s >= 400);
            (heck::ToPascalCase::to_pascal_case(operation.id.as_str()), statuses.collect())
        })
        .collect();
    let rust = progenitor_output(&model, &for_code, spec_path, api.module, &error_statuses)?;
    let server = crate::server::generate(server_model, api, &client_parameter_types(&rust.client))
        .with_context(|| format!("generating the server of {}", spec_path.display()))?;
    let comment = format!(
        "@generated by `{COMMAND}` from {} (sha256 {}). Do not edit: change the spec and run `{COMMAND}`.",
        header.spec_name(),
        header.digest
    );
    let schemas = crate::jsonschema::bundle(&doc.value, &comment)
        .with_context(|| format!("converting {} to JSON Schema", spec_path.display()))?;
    Ok(Generated {
        types: header.render(&rust.types)?,
        client: header.render(&rust.client)?,
        server: header.render(&server)?,
        schemas: serde_json::to_string_pretty(&schemas)? + "\n",
        openapi: serde_json::to_string_pretty(&doc.value)? + "\n",
        path_prefixes: crate::walk::path_prefixes(&doc.value),
    })
}

/// The differences between what would be generated and what is on disk.
#[derive(Debug, Default)]
pub struct Drift {
    /// Files to write: missing, or with other content.
    pub stale: Vec<PathBuf>,
    /// Files in a generated folder whose source is gone.
    pub orphaned: Vec<PathBuf>,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.stale.is_empty() && self.orphaned.is_empty()
    }
}

/// Compares `files` with the tree under `root`.
pub fn drift(root: &Path, files: &BTreeMap<PathBuf, String>) -> Result<Drift> {
    let mut drift = Drift::default();
    for (path, content) in files {
        if std::fs::read_to_string(root.join(path)).ok().as_deref() != Some(content.as_str()) {
            drift.stale.push(path.clone());
        }
    }
    for dir in GENERATED_DIRS {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries {
            let path = Path::new(dir).join(entry?.file_name());
            if !files.contains_key(&path) {
                drift.orphaned.push(path);
            }
        }
    }
    drift.orphaned.sort();
    Ok(drift)
}

struct Header<'a> {
    spec: &'a Path,
    digest: String,
    rustfmt_config: PathBuf,
}

impl Header<'_> {
    /// The spec's path with `/` on every platform, as headers show it.
    fn spec_name(&self) -> String {
        self.spec.display().to_string().replace('\\', "/")
    }

    /// Prepends the `@generated` header and formats the file with rustfmt.
    fn render(&self, file: &syn::File) -> Result<String> {
        let spec = self.spec_name();
        let source = format!(
            "// @generated by `{COMMAND}` from {spec} (sha256 {}).\n\
             // Do not edit: change the spec and run `{COMMAND}`.\n\n\
             #![allow(missing_docs, missing_debug_implementations, unused_qualifications, clippy::all, clippy::pedantic)]\n\n{}",
            self.digest,
            line_doc_comments(&prettyplease::unparse(file))
        );
        rustfmt(&source, &self.rustfmt_config)
    }
}

/// The two halves of one API's generated code.
struct GeneratedApi {
    /// The contents of progenitor's `types` module, for `streamspec-types`.
    types: syn::File,
    /// Everything else, for `streamspec-client`, with `types` re-exported from `streamspec-types`.
    client: syn::File,
}

/// progenitor's output for `spec` (without its validation-only rules), split in two.
fn progenitor_output(
    spec: &openapiv3::OpenAPI,
    document: &Value,
    spec_path: &Path,
    module: &str,
    error_statuses: &BTreeMap<String, Vec<u16>>,
) -> Result<GeneratedApi> {
    let mut settings = GenerationSettings::new();
    settings
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged)
        .with_derive("::schemars::JsonSchema")
        .with_derive("PartialEq")
        // The client's credentials and retry policy; the hand-written `ClientHooks` impl uses them.
        .with_inner_type(syn_tokens(&format!("crate::{module}::ClientState"))?)
        .with_hooks(HooksMode::Expected);
    // Secrets are one hand-written type whose `Debug` prints no secret (see spec/README.md).
    for name in ["Secret", "AccessToken", "IssuedSecret"] {
        if spec.components.as_ref().is_some_and(|c| c.schemas.contains_key(name)) {
            settings.with_replacement(
                name,
                "crate::Secret",
                // No `Display`: formatting a secret into a message is exactly what must not happen.
                [TypeImpl::FromStr].into_iter(),
            );
        }
    }
    // Enums a response reports are open: a value the vendor adds later is kept (see spec/README.md).
    let open = open_enums(document)?;
    for (name, known) in &open {
        settings.with_replacement(
            name,
            format!("crate::Open<crate::{module}::{known}>"),
            std::iter::empty(),
        );
    }
    let tokens = Generator::new(&settings)
        .generate_tokens(spec)
        .map_err(|error| anyhow::anyhow!("progenitor: {error}"))
        .with_context(|| format!("generating code from {}", spec_path.display()))?;
    let file: syn::File = syn::parse2(tokens).context("parsing progenitor's output")?;

    let mut types = None;
    let mut client_items = Vec::new();
    for item in file.items {
        match item {
            syn::Item::Mod(module_item) if module_item.ident == "types" => {
                types = module_item.content.map(|(_, items)| items);
            }
            other => client_items.push(other),
        }
    }
    let mut types = types.context("progenitor's output has no `types` module")?;
    seal_structs(&mut types)?;
    optional_setters(&mut types)?;
    // typify puts the replacement in place of the schema and names it nowhere: an alias gives the
    // schema's name to users and docs.
    for (name, known) in &open {
        types.push(syn::parse_str(&format!(
            "/// `{name}` of the spec: a [`{known}`], or a value it does not know (see [`crate::Open`]).\n\
             pub type {name} = crate::Open<{known}>;"
        ))?);
    }
    let reexport: syn::Item = syn::parse_str(&format!(
        "/// The types of this API, from `streamspec-types`: one definition shared with the server.\n\
         pub use streamspec_types::{module} as types;"
    ))?;
    classified_send(&mut client_items, error_statuses)?;
    client_items.insert(0, reexport);
    Ok(GeneratedApi {
        types: syn::File { shebang: None, frontmatter: None, attrs: Vec::new(), items: types },
        client: syn::File {
            shebang: None,
            frontmatter: None,
            attrs: Vec::new(),
            items: client_items,
        },
    })
}

/// The module progenitor and typify put builders in.
const BUILDER_MODULE: &str = "builder";

/// The items of the `builder` module among `items`, if there is one.
fn builder_items(items: &mut [syn::Item]) -> Option<&mut Vec<syn::Item>> {
    items.iter_mut().find_map(|item| match item {
        syn::Item::Mod(module) if module.ident == BUILDER_MODULE => {
            module.content.as_mut().map(|(_, items)| items)
        }
        _ => None,
    })
}

/// Makes each request builder's `send` answer `crate::Error` (the client crate's, with a variant per
/// documented error status) instead of progenitor's `Error`: progenitor's `send` becomes the private
/// `send_unclassified`, and `send` classifies what it answers. `error_statuses` are each builder's
/// documented error statuses, for its docs.
fn classified_send(
    items: &mut [syn::Item],
    error_statuses: &BTreeMap<String, Vec<u16>>,
) -> Result<()> {
    let mut wrapped = 0;
    for item in builder_items(items).into_iter().flatten() {
        let syn::Item::Impl(block) = item else { continue };
        let syn::Type::Path(self_ty) = &*block.self_ty else { continue };
        let Some(builder) = self_ty.path.segments.last().map(|segment| segment.ident.to_string())
        else {
            continue;
        };
        let Some(position) = block.items.iter().position(
            |member| matches!(member, syn::ImplItem::Fn(function) if function.sig.ident == "send"),
        ) else {
            continue;
        };
        let syn::ImplItem::Fn(send) = &mut block.items[position] else { unreachable!() };
        let syn::ReturnType::Type(_, returned) = &send.sig.output else {
            bail!("`{builder}::send` returns nothing");
        };
        let ok = generic_argument(returned, "Result")
            .with_context(|| format!("`{builder}::send` does not return a `Result`"))?
            .clone();
        let envelope = match &**returned {
            syn::Type::Path(path) => match &path.path.segments.last().map(|s| &s.arguments) {
                Some(syn::PathArguments::AngleBracketed(arguments)) => {
                    arguments.args.iter().nth(1).and_then(|argument| match argument {
                        syn::GenericArgument::Type(error) => generic_argument(error, "Error"),
                        _ => None,
                    })
                }
                _ => None,
            },
            _ => None,
        }
        .with_context(|| format!("`{builder}::send` does not fail with `Error<E>`"))?
        .clone();
        send.sig.ident = quote::format_ident!("send_unclassified");
        send.vis = syn::Visibility::Inherited;
        let operation = heck::ToSnakeCase::to_snake_case(builder.as_str());
        let mut statuses = error_statuses.get(&builder).cloned().unwrap_or_default();
        statuses.sort_unstable();
        let listed: Vec<String> = statuses
            .iter()
            .map(|status| {
                let name = http::StatusCode::from_u16(*status)
                    .ok()
                    .and_then(|status| status.canonical_reason())
                    .map(heck::ToPascalCase::to_pascal_case)
                    .unwrap_or_else(|| status.to_string());
                format!("[`{name}`](crate::Error::{name}) ({status})")
            })
            .collect();
        let doc = if listed.is_empty() {
            "Sends the request. Any error answer is [`crate::Error::UnexpectedResponse`]."
                .to_owned()
        } else {
            format!(
                "Sends the request. The error answers its spec documents: {}; any other is\n[`UnexpectedResponse`](crate::Error::UnexpectedResponse).",
                listed.join(", ")
            )
        };
        let classified: syn::ImplItemFn = syn::parse_quote! {
            #[doc = #doc]
            pub async fn send(self) -> Result<#ok, crate::Error<#envelope>> {
                crate::Error::classify(#operation, self.send_unclassified().await).await
            }
        };
        block.items.insert(position, syn::ImplItem::Fn(classified));
        wrapped += 1;
    }
    if wrapped == 0 {
        bail!("progenitor's client has no request builder with a `send`");
    }
    Ok(())
}

/// The Rust type of every parameter of the client progenitor made, from its request builders: a
/// builder struct per operation whose fields (besides `client` and `body`) are
/// `Result<Option<T>, String>`, or `Result<T, String>` for a path parameter.
fn client_parameter_types(client: &syn::File) -> crate::server::ClientParameterTypes {
    let mut types = crate::server::ClientParameterTypes::new();
    let builders = client.items.iter().find_map(|item| match item {
        syn::Item::Mod(module) if module.ident == BUILDER_MODULE => module.content.as_ref(),
        _ => None,
    });
    for item in builders.map(|(_, items)| items).into_iter().flatten() {
        let syn::Item::Struct(builder) = item else { continue };
        for field in &builder.fields {
            let Some(name) = &field.ident else { continue };
            let Some(ty) = generic_argument(&field.ty, "Result")
                .map(|ok| generic_argument(ok, "Option").unwrap_or(ok))
            else {
                continue;
            };
            types.insert(
                (builder.ident.to_string(), name.to_string()),
                quote::ToTokens::to_token_stream(ty).to_string(),
            );
        }
    }
    types
}

/// `T` of `Wrapper<T, ...>`, when `ty` is a path ending in `wrapper`.
fn generic_argument<'a>(ty: &'a syn::Type, wrapper: &str) -> Option<&'a syn::Type> {
    let syn::Type::Path(path) = ty else { return None };
    path.path.segments.last().filter(|last| last.ident == wrapper).and_then(generic_argument_of)
}

/// The first type argument of a path segment: `T` of `Name<T, ...>`.
fn generic_argument_of(segment: &syn::PathSegment) -> Option<&syn::Type> {
    let syn::PathArguments::AngleBracketed(arguments) = &segment.arguments else { return None };
    match arguments.args.first()? {
        syn::GenericArgument::Type(ty) => Some(ty),
        _ => None,
    }
}

/// Makes every struct of the spec `#[non_exhaustive]` and gives it `new`, taking its required fields
/// in the generated order (alphabetical, so reordering a schema's properties changes nothing) and
/// starting its optional ones empty. Downstream code builds values through `new` and field assignment
/// (or the builders), and matches with `..`, so a property added as optional breaks no caller; a new
/// required property changes `new`, which is a breaking change anyway.
fn seal_structs(items: &mut Vec<syn::Item>) -> Result<()> {
    let mut constructors = BTreeMap::new();
    for item in items.iter_mut() {
        if let syn::Item::Struct(item) = item
            && let Some(constructor) = constructor(item)?
        {
            constructors.insert(item.ident.to_string(), constructor);
        }
    }
    // `new` goes first in the struct's own `impl` (typify's, with `builder`), or in an `impl` of its own.
    for item in items.iter_mut() {
        if let syn::Item::Impl(block) = item
            && block.trait_.is_none()
            && let syn::Type::Path(self_ty) = &*block.self_ty
            && let Some(constructor) =
                self_ty.path.get_ident().and_then(|ident| constructors.remove(&ident.to_string()))
        {
            block.items.insert(0, syn::ImplItem::Fn(constructor));
        }
    }
    for (name, constructor) in constructors {
        let ident = quote::format_ident!("{name}");
        items.push(syn::parse_quote!(impl #ident { #constructor }));
    }
    Ok(())
}

/// Gives the builders' setters of optional fields the values the setters of required fields take:
/// typify's setter wants a `TryInto<Option<T>>`, which `&str` is not, so `.name("studio")` would need
/// `.to_string()` on an optional field only. The setter takes `crate::IntoOptional<T>` instead: the
/// value, an `Option` of it, or `&str` for every type that parses from one (`String`, `Secret` and
/// the spec's string schemas, whose `IntoOptional` impls are written here).
fn optional_setters(items: &mut Vec<syn::Item>) -> Result<()> {
    let parsed: std::collections::BTreeSet<String> = items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Impl(syn::ItemImpl { trait_: Some((path, _)), self_ty, .. })
                if path.segments.last().is_some_and(|segment| segment.ident == "FromStr") =>
            {
                match &**self_ty {
                    syn::Type::Path(ty) => ty.path.get_ident().map(ToString::to_string),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect();
    let mut from_str = std::collections::BTreeSet::new();
    for item in builder_items(items).into_iter().flatten() {
        let syn::Item::Impl(block) = item else { continue };
        if block.trait_.is_some() {
            continue;
        }
        for member in &mut block.items {
            let syn::ImplItem::Fn(setter) = member else { continue };
            let Some(inner) = optional_target(setter) else { continue };
            if let syn::Type::Path(path) = &inner
                && let Some(last) = path.path.segments.last()
                && parsed.contains(&last.ident.to_string())
            {
                from_str.insert(last.ident.to_string());
            }
            let name = &setter.sig.ident;
            let failed = format!("error converting supplied value for {name}: {{e}}");
            let docs: Vec<&syn::Attribute> =
                setter.attrs.iter().filter(|attribute| attribute.path().is_ident("doc")).collect();
            *setter = syn::parse_quote! {
                #(#docs)*
                pub fn #name<T>(mut self, value: T) -> Self
                where
                    T: crate::IntoOptional<#inner>,
                {
                    self.#name = value.into_optional().map_err(|e| format!(#failed));
                    self
                }
            };
        }
    }
    for name in from_str {
        let ident = quote::format_ident!("{name}");
        items.push(syn::parse_quote! {
            impl crate::IntoOptional<#ident> for &str {
                fn into_optional(self) -> ::std::result::Result<::std::option::Option<#ident>, ::std::string::String> {
                    self.parse().map(::std::option::Option::Some).map_err(|e| ::std::string::ToString::to_string(&e))
                }
            }
        });
    }
    Ok(())
}

/// `T` of a typify setter bounded by `TryInto<Option<T>>`: the setter of an optional field.
fn optional_target(setter: &syn::ImplItemFn) -> Option<syn::Type> {
    let clause = setter.sig.generics.where_clause.as_ref()?;
    clause.predicates.iter().find_map(|predicate| {
        let syn::WherePredicate::Type(predicate) = predicate else { return None };
        predicate.bounds.iter().find_map(|bound| {
            let syn::TypeParamBound::Trait(bound) = bound else { return None };
            let try_into = bound.path.segments.last().filter(|last| last.ident == "TryInto")?;
            generic_argument_of(try_into)
                .and_then(|target| generic_argument(target, "Option"))
                .cloned()
        })
    })
}

/// Marks `item` `#[non_exhaustive]` and returns its `new`, if it has named fields.
fn constructor(item: &mut syn::ItemStruct) -> Result<Option<syn::ImplItemFn>> {
    let syn::Fields::Named(fields) = &item.fields else { return Ok(None) };
    let mut parameters = Vec::new();
    let mut initialisers = Vec::new();
    for field in &fields.named {
        let name = field.ident.as_ref().context("a named field")?;
        let ty = &field.ty;
        initialisers.push(match serde_default(field)? {
            Some(SerdeDefault::Trait) => quote::quote!(#name: ::std::default::Default::default()),
            Some(SerdeDefault::Function(path)) => quote::quote!(#name: #path()),
            None if is_option(ty) => quote::quote!(#name: ::std::option::Option::None),
            None => {
                parameters.push(quote::quote!(#name: #ty));
                quote::quote!(#name)
            }
        });
    }
    let doc = if parameters.is_empty() {
        " Every field empty; set the ones to send by assignment."
    } else {
        " From the required fields; the optional ones start empty and are set by assignment."
    };
    item.attrs.push(syn::parse_quote!(#[non_exhaustive]));
    Ok(Some(syn::parse_quote! {
        #[doc = #doc]
        pub fn new(#(#parameters),*) -> Self {
            Self { #(#initialisers),* }
        }
    }))
}

enum SerdeDefault {
    /// `#[serde(default)]`.
    Trait,
    /// `#[serde(default = "path")]`.
    Function(syn::Path),
}

/// The `default` a field's `#[serde(...)]` attributes give it, if any.
fn serde_default(field: &syn::Field) -> Result<Option<SerdeDefault>> {
    let mut found = None;
    for attribute in field.attrs.iter().filter(|attribute| attribute.path().is_ident("serde")) {
        attribute.parse_nested_meta(|meta| {
            if meta.path.is_ident("default") {
                found = Some(match meta.value() {
                    Ok(value) => {
                        let path: syn::LitStr = value.parse()?;
                        SerdeDefault::Function(path.parse()?)
                    }
                    Err(_) => SerdeDefault::Trait,
                });
            } else if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            }
            Ok(())
        })?;
    }
    Ok(found)
}

fn is_option(ty: &syn::Type) -> bool {
    let syn::Type::Path(path) = ty else { return false };
    path.path.segments.last().is_some_and(|segment| segment.ident == "Option")
}

/// The schemas marked `x-open-enum: true`, each with the enum it opens: the `$ref` of its first `anyOf`
/// entry. Such a schema must be `anyOf: [{$ref: <enum>}, {type: string}]` and nothing else, so that
/// every validator reads it exactly as `streamspec_types::Open` does.
fn open_enums(spec: &Value) -> Result<Vec<(String, String)>> {
    let mut open = Vec::new();
    let Some(schemas) = spec.pointer("/components/schemas").and_then(Value::as_object) else {
        return Ok(open);
    };
    for (name, schema) in schemas {
        if schema.get("x-open-enum") != Some(&Value::Bool(true)) {
            continue;
        }
        let known = schema
            .pointer("/anyOf/0/$ref")
            .and_then(Value::as_str)
            .and_then(|reference| reference.strip_prefix("#/components/schemas/"));
        let string = schema.pointer("/anyOf/1") == Some(&serde_json::json!({"type": "string"}));
        let keys: Vec<&String> =
            schema.as_object().into_iter().flat_map(|map| map.keys()).collect();
        let extra =
            keys.iter().any(|key| !matches!(key.as_str(), "x-open-enum" | "anyOf" | "description"));
        match known {
            Some(known)
                if string && !extra && schema["anyOf"].as_array().map(Vec::len) == Some(2) =>
            {
                open.push((name.clone(), known.to_owned()));
            }
            _ => bail!(
                "schema `{name}` is marked `x-open-enum` but is not `anyOf: [{{$ref: <enum>}}, {{type: string}}]` with a description"
            ),
        }
    }
    Ok(open)
}

/// Rewrites prettyplease's `/** ... */` doc comments as `///` lines (and `///Text` as `/// Text`).
/// rustfmt re-indents the inside of a block comment, and indented doc text is a code block to rustdoc.
fn line_doc_comments(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut lines = source.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let Some(first) = trimmed.strip_prefix("/**") else {
            match trimmed.strip_prefix("///") {
                Some(text) if !text.is_empty() && !text.starts_with([' ', '/']) => {
                    out.push_str(&format!("{indent}/// {text}\n"));
                }
                _ => out.push_str(&format!("{line}\n")),
            }
            continue;
        };
        let mut body = vec![first];
        if let Some(single) = first.strip_suffix("*/") {
            body = vec![single];
        } else {
            for next in lines.by_ref() {
                match next.strip_suffix("*/") {
                    Some(last) => {
                        body.push(last);
                        break;
                    }
                    None => body.push(next),
                }
            }
        }
        while body.last().is_some_and(|text| text.trim().is_empty()) {
            body.pop();
        }
        for text in body {
            let text = text.trim_end();
            if text.is_empty() {
                out.push_str(&format!("{indent}///\n"));
            } else {
                out.push_str(&format!("{indent}/// {text}\n"));
            }
        }
    }
    out
}

fn syn_tokens(text: &str) -> Result<proc_macro2::TokenStream> {
    text.parse().map_err(|error| anyhow::anyhow!("{text}: {error}"))
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Formats with the toolchain's rustfmt, the same one `cargo fmt --check` uses, so generated files pass it.
fn rustfmt(source: &str, config: &Path) -> Result<String> {
    let mut child = Command::new(std::env::var("RUSTFMT").unwrap_or_else(|_| "rustfmt".to_owned()))
        .args(["--edition", "2024", "--emit", "stdout", "--quiet", "--config-path"])
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running rustfmt (install it with `rustup component add rustfmt`)")?;
    let mut stdin = child.stdin.take().context("rustfmt's stdin")?;
    let input = source.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output()?;
    writer.join().map_err(|_| anyhow::anyhow!("writing to rustfmt panicked"))??;
    if !output.status.success() {
        bail!("rustfmt failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    String::from_utf8(output.stdout).context("rustfmt's output is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::strip_validation_only;

    fn project_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// Plain `cargo test` catches a spec edited without regenerating.
    #[test]
    fn generated_code_is_up_to_date() {
        let root = project_root();
        let files = generate_all(&root).unwrap();
        let drift = drift(&root, &files).unwrap();
        assert!(
            drift.is_empty(),
            "generated code is stale: {:?} out of date, {:?} orphaned; run `{COMMAND}`",
            drift.stale,
            drift.orphaned
        );
    }

    #[test]
    fn generation_is_deterministic() {
        let root = project_root();
        assert_eq!(generate_all(&root).unwrap(), generate_all(&root).unwrap());
    }

    #[test]
    fn block_doc_comments_become_line_comments() {
        let source = "/**Title\n\n    indented code\n- item\n\n*/\nstruct A;\n    ///Field\n    /// ok\n    ///\n";
        assert_eq!(
            line_doc_comments(source),
            "/// Title\n///\n///     indented code\n/// - item\nstruct A;\n    /// Field\n    /// ok\n    ///\n"
        );
    }

    #[test]
    fn open_enums_are_found_and_their_form_is_checked() {
        let spec = |schema: Value| serde_json::json!({"components": {"schemas": {"Kind": schema}}});
        let open = serde_json::json!({
            "x-open-enum": true,
            "description": "d",
            "anyOf": [{"$ref": "#/components/schemas/KnownKind"}, {"type": "string"}],
        });
        assert_eq!(open_enums(&spec(open)).unwrap(), [("Kind".to_owned(), "KnownKind".to_owned())]);
        for broken in [
            serde_json::json!({"x-open-enum": true, "anyOf": [{"type": "string"}]}),
            serde_json::json!({
                "x-open-enum": true,
                "nullable": true,
                "anyOf": [{"$ref": "#/components/schemas/KnownKind"}, {"type": "string"}],
            }),
            serde_json::json!({
                "x-open-enum": true,
                "anyOf": [{"$ref": "#/components/schemas/KnownKind"}, {"type": "integer"}],
            }),
        ] {
            let error = open_enums(&spec(broken)).unwrap_err().to_string();
            assert!(error.contains("`Kind` is marked `x-open-enum`"), "{error}");
        }
        let plain = serde_json::json!({"type": "string", "enum": ["a"]});
        assert!(open_enums(&spec(plain)).unwrap().is_empty());
    }

    #[test]
    fn only_marked_all_of_entries_are_stripped() {
        let mut value = serde_json::json!({
            "a": {"allOf": [{"x-validation-only": true, "anyOf": []}, {"type": "object"}]},
            "b": {"allOf": [{"x-validation-only": true}]},
            "c": {"allOf": [{"x-validation-only": false}]},
        });
        strip_validation_only(&mut value);
        assert_eq!(
            value,
            serde_json::json!({
                "a": {"allOf": [{"type": "object"}]},
                "b": {},
                "c": {"allOf": [{"x-validation-only": false}]},
            })
        );
    }
}
