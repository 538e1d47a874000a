//! `cargo xtask regenerate [--check]`: turns `spec/*.yaml` into the committed code under `generated/`
//! folders. Generation is a pure function of the spec text (and the pinned generator versions), so
//! `--check` can compare what would be written with what is committed.

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
use crate::spec::{SPECS, SpecDocument};

/// The folders this command owns: every file in them is generated, and one it did not produce is stale.
pub const GENERATED_DIRS: &[&str] =
    &["crates/types/src/generated", "crates/client/src/generated", "crates/server/src/generated"];

/// What to run after a spec edit; printed by `--check`.
pub const COMMAND: &str = "cargo xtask regenerate";

/// Every generated file, by path relative to the project root, with its exact content.
pub fn generate_all(root: &Path) -> Result<BTreeMap<PathBuf, String>> {
    let mut files = BTreeMap::new();
    for (file, module, trait_name) in SPECS {
        let relative = Path::new("spec").join(file);
        let text = std::fs::read_to_string(root.join(&relative))
            .with_context(|| format!("reading {}", relative.display()))?;
        let doc = SpecDocument::parse(&relative, text.clone())?;
        let findings = lint::lint(&doc);
        if !findings.is_empty() {
            let listed: Vec<String> = findings.iter().map(ToString::to_string).collect();
            bail!(
                "{} has lint findings; fix them first:\n{}",
                relative.display(),
                listed.join("\n")
            );
        }
        let header = Header { spec: &relative, digest: sha256_hex(&text) };
        let generated = generate_api(&doc, module)?;
        let server = crate::server_gen::generate(
            &without_validation_only(&doc.value),
            &crate::server_gen::ServerApi { module, trait_name },
        )
        .with_context(|| format!("generating the server of {}", relative.display()))?;
        files.insert(
            PathBuf::from(format!("crates/server/src/generated/{module}.rs")),
            header.render(&server)?,
        );
        files.insert(
            PathBuf::from(format!("crates/types/src/generated/{module}.rs")),
            header.render(&generated.types)?,
        );
        files.insert(
            PathBuf::from(format!("crates/client/src/generated/{module}.rs")),
            header.render(&generated.client)?,
        );
    }
    Ok(files)
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

/// The command: writes (or with `check`, only compares) every generated file.
pub fn run(check: bool) -> Result<bool> {
    let root = crate::project_root();
    let files = generate_all(&root)?;
    let drift = drift(&root, &files)?;
    if check {
        if drift.is_empty() {
            println!("regenerate --check: {} generated files are up to date", files.len());
            return Ok(true);
        }
        eprintln!("generated code is stale; the specs and the committed code disagree:");
        for path in &drift.stale {
            eprintln!("  {} (out of date)", path.display());
        }
        for path in &drift.orphaned {
            eprintln!("  {} (its source is gone)", path.display());
        }
        eprintln!("run `{COMMAND}` and commit the result");
        return Ok(false);
    }
    for path in &drift.stale {
        let target = root.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, &files[path])
            .with_context(|| format!("writing {}", path.display()))?;
        println!("regenerate: wrote {}", path.display());
    }
    for path in &drift.orphaned {
        std::fs::remove_file(root.join(path))?;
        println!("regenerate: removed {} (its source is gone)", path.display());
    }
    if drift.is_empty() {
        println!("regenerate: {} generated files already up to date", files.len());
    }
    Ok(true)
}

struct Header<'a> {
    spec: &'a Path,
    digest: String,
}

impl Header<'_> {
    /// Prepends the `@generated` header and formats the file with rustfmt.
    fn render(&self, file: &syn::File) -> Result<String> {
        let spec = self.spec.display().to_string().replace('\\', "/");
        let source = format!(
            "// @generated by `{COMMAND}` from {spec} (sha256 {}).\n\
             // Do not edit: change the spec and run `{COMMAND}`.\n\n{}",
            self.digest,
            line_doc_comments(&prettyplease::unparse(file))
        );
        rustfmt(&source)
    }
}

/// The two halves of one API's generated code.
struct GeneratedApi {
    /// The contents of progenitor's `types` module, for `streamspec-types`.
    types: syn::File,
    /// Everything else, for `streamspec-client`, with `types` re-exported from `streamspec-types`.
    client: syn::File,
}

fn generate_api(doc: &SpecDocument, module: &str) -> Result<GeneratedApi> {
    let spec: openapiv3::OpenAPI = serde_json::from_value(without_validation_only(&doc.value))
        .with_context(|| format!("{} is not an OpenAPI 3.0 document", doc.path.display()))?;

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
    for name in ["Secret", "AccessToken"] {
        if spec.components.as_ref().is_some_and(|c| c.schemas.contains_key(name)) {
            settings.with_replacement(
                name,
                "crate::Secret",
                // No `Display`: formatting a secret into a message is exactly what must not happen.
                [TypeImpl::FromStr].into_iter(),
            );
        }
    }
    let tokens = Generator::new(&settings)
        .generate_tokens(&spec)
        .map_err(|error| anyhow::anyhow!("progenitor: {error}"))
        .with_context(|| format!("generating code from {}", doc.path.display()))?;
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
    let types = types.context("progenitor's output has no `types` module")?;
    let reexport: syn::Item = syn::parse_str(&format!(
        "/// The types of this API, from `streamspec-types`: one definition shared with the server.\n\
         pub use streamspec_types::{module} as types;"
    ))?;
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

/// A copy of the spec for the code generators: without the validation-only rules.
fn without_validation_only(value: &Value) -> Value {
    let mut value = value.clone();
    strip_validation_only(&mut value);
    value
}

/// Removes the `allOf` entries marked `x-validation-only: true`: rules for validators that typify cannot
/// turn into types (see spec/README.md). Nothing else is removed.
pub fn strip_validation_only(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(entries)) = map.get_mut("allOf") {
                entries.retain(|entry| entry.get("x-validation-only") != Some(&Value::Bool(true)));
                if entries.is_empty() {
                    map.remove("allOf");
                }
            }
            map.values_mut().for_each(strip_validation_only);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_validation_only),
        _ => {}
    }
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
fn rustfmt(source: &str) -> Result<String> {
    let mut child = Command::new(std::env::var("RUSTFMT").unwrap_or_else(|_| "rustfmt".to_owned()))
        .args(["--edition", "2024", "--emit", "stdout", "--quiet", "--config-path"])
        .arg(crate::project_root().join("rustfmt.toml"))
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

    /// Plain `cargo test` catches a spec edited without regenerating.
    #[test]
    fn generated_code_is_up_to_date() {
        let root = crate::project_root();
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
        let root = crate::project_root();
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
