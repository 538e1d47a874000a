//! `cargo xtask lint`: the checks a spec must pass before code is generated from it. Each finding names
//! `file:line` and the JSON pointer of the value at fault.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

use crate::spec::{Location, SpecDocument, escape_token};
use crate::walk;

/// One problem in a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Where in the file.
    pub location: Location,
    /// Where in the document.
    pub pointer: String,
    /// What is wrong, and usually what to do.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() { "/" } else { &self.pointer };
        write!(f, "{}: {pointer}: {}", self.location, self.message)
    }
}

/// Runs every check on one spec.
pub fn lint(doc: &SpecDocument) -> Vec<Finding> {
    let mut lint = Lint { doc, findings: Vec::new() };
    lint.version();
    lint.openapiv3_model();
    lint.references(&doc.value, String::new());
    lint.schemas();
    lint.operations();
    lint.generator_support();
    lint.examples();
    let mut findings = lint.findings;
    findings.sort_by(|a, b| (a.location.line, &a.pointer).cmp(&(b.location.line, &b.pointer)));
    findings.dedup();
    findings
}

struct Lint<'a> {
    doc: &'a SpecDocument,
    findings: Vec<Finding>,
}

impl Lint<'_> {
    fn report(&mut self, pointer: &str, message: impl Into<String>) {
        self.findings.push(Finding {
            location: self.doc.location(pointer),
            pointer: pointer.to_owned(),
            message: message.into(),
        });
    }

    fn at(&self, pointer: &str) -> Option<&Value> {
        self.doc.value.pointer(pointer)
    }

    /// progenitor and openapiv3 read OpenAPI 3.0.x only.
    fn version(&mut self) {
        match self.at("/openapi").and_then(Value::as_str) {
            Some(version) if version.starts_with("3.0.") => {}
            Some(version) => self.report(
                "/openapi",
                format!(
                    "OpenAPI {version} is not supported: progenitor and openapiv3 read 3.0.x only"
                ),
            ),
            None => self.report("", "missing `openapi: 3.0.x`"),
        }
    }

    /// The document must deserialize into openapiv3's model, which is what progenitor reads.
    fn openapiv3_model(&mut self) {
        let Err(error) = model_error::<openapiv3::OpenAPI>(&self.doc.value, "") else {
            return;
        };
        // openapiv3 reads paths and components through untagged enums, which lose the place of an
        // error; reading each operation and component on its own finds it again.
        let mut refined = Vec::new();
        for operation in walk::operations(&self.doc.value) {
            if let Err(found) =
                model_error::<openapiv3::Operation>(operation.operation, &operation.pointer)
            {
                refined.push(found);
            }
        }
        for name in self.keys("/components/schemas") {
            let schema = format!("/components/schemas/{}", escape_token(&name));
            if let Some(Err(found)) = self.at(&schema).map(|value| {
                model_error::<openapiv3::ReferenceOr<openapiv3::Schema>>(value, &schema)
            }) {
                refined.push(found);
            }
        }
        if refined.is_empty() {
            refined.push(error);
        }
        for (pointer, message) in refined {
            self.report(&pointer, format!("not a valid OpenAPI 3.0 document: {message}"));
        }
    }

    fn keys(&self, pointer: &str) -> Vec<String> {
        self.at(pointer)
            .and_then(Value::as_object)
            .map(|map| map.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Every `$ref` must point inside this document, at something that exists, with nothing beside it
    /// (OpenAPI 3.0 ignores a `$ref`'s siblings, so they would be silently lost).
    fn references(&mut self, value: &Value, pointer: String) {
        match value {
            Value::Object(map) => {
                if let Some(reference) = map.get("$ref") {
                    let here = format!("{pointer}/$ref");
                    match reference.as_str().map(walk::pointer_of) {
                        Some(Some(target)) if self.at(&target).is_some() => {}
                        Some(Some(_)) => {
                            let reference = reference.as_str().unwrap_or_default();
                            self.report(&here, format!("`$ref` to nothing: `{reference}` does not exist"))
                        }
                        _ => self.report(
                            &here,
                            format!("`$ref` must be a local reference such as `#/components/schemas/Name`, not {reference}"),
                        ),
                    }
                    let siblings: Vec<&str> =
                        map.keys().map(String::as_str).filter(|key| *key != "$ref").collect();
                    if !siblings.is_empty() {
                        self.report(
                            &pointer,
                            format!("`{}` beside `$ref` is ignored by OpenAPI 3.0: move it into the target", siblings.join("`, `")),
                        );
                    }
                }
                for (key, child) in map {
                    // Examples are data, not spec: a `$ref` key inside one is just a field.
                    if key == "example" || (key == "examples" && pointer.contains("/content/")) {
                        continue;
                    }
                    self.references(child, format!("{pointer}/{}", escape_token(key)));
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    self.references(child, format!("{pointer}/{index}"));
                }
            }
            _ => {}
        }
    }

    /// Every example matches its schema (only once the document itself is sound).
    fn examples(&mut self) {
        if !self.findings.is_empty() {
            return;
        }
        match crate::jsonschema::check_examples(&self.doc.value) {
            Ok(failures) => {
                for (pointer, message) in failures {
                    self.report(&pointer, message);
                }
            }
            Err(error) => self
                .report("", format!("the schemas cannot be converted to JSON Schema: {error:#}")),
        }
    }

    /// Every schema says its `type`, or is a `$ref` or a composition (`allOf`, `anyOf`, `oneOf`).
    fn schemas(&mut self) {
        for pointer in schema_roots(&self.doc.value) {
            self.schema(&pointer);
        }
    }

    fn schema(&mut self, pointer: &str) {
        let Some(Value::Object(schema)) = self.at(pointer).cloned() else {
            return;
        };
        if schema.contains_key("$ref") {
            return;
        }
        let composed = ["allOf", "anyOf", "oneOf"].iter().any(|key| schema.contains_key(*key));
        if !schema.contains_key("type") && !composed {
            self.report(
                pointer,
                "schema without `type`: say what it is (`object`, `string`, ...), or compose it with `allOf`/`anyOf`/`oneOf`",
            );
        }
        for (key, child) in &schema {
            let child_pointer = format!("{pointer}/{key}");
            match (key.as_str(), child) {
                ("properties", Value::Object(properties)) => {
                    for name in properties.keys() {
                        self.schema(&format!("{child_pointer}/{}", escape_token(name)));
                    }
                }
                ("allOf" | "anyOf" | "oneOf", Value::Array(items)) => {
                    for index in 0..items.len() {
                        self.schema(&format!("{child_pointer}/{index}"));
                    }
                }
                ("items" | "not" | "additionalProperties", Value::Object(_)) => {
                    self.schema(&child_pointer)
                }
                _ => {}
            }
        }
    }

    fn operations(&mut self) {
        let mut operation_ids: BTreeMap<String, String> = BTreeMap::new();
        let document = &self.doc.value;
        for operation in walk::operations(document) {
            let (path, pointer) = (operation.path, &operation.pointer);
            match operation.id() {
                None => self.report(
                    pointer,
                    format!("operation `{} {path}` has no `operationId`: give it a snake_case name that reads as a Rust method", operation.method.to_uppercase()),
                ),
                Some(id) => {
                    let here = format!("{pointer}/operationId");
                    if !is_snake_case(id) {
                        self.report(&here, format!("operationId `{id}` is not snake_case: it names a Rust method and a generated type (write it as `{}`)", to_snake_case(id)));
                    }
                    if let Some(first) = operation_ids.get(id) {
                        let first_line = self.doc.line_of(first);
                        self.report(&here, format!("duplicate operationId `{id}` (first at line {first_line})"));
                    } else {
                        operation_ids.insert(id.to_owned(), here);
                    }
                }
            }
            let declared: BTreeMap<String, String> = operation
                .parameters(document)
                .into_iter()
                .filter(|(_, parameter)| {
                    parameter.get("in").and_then(Value::as_str) == Some("path")
                })
                .filter_map(|(pointer, parameter)| {
                    Some((parameter.get("name")?.as_str()?.to_owned(), pointer))
                })
                .collect();
            self.check_path_parameters(path, pointer, &declared);
            self.request_media_types(pointer);
            self.response_schemas(pointer);
        }
    }

    /// What the server generator would refuse, at its place (see [`crate::support`]). It reads the
    /// typed model; a document that does not fit it is [`Self::openapiv3_model`]'s finding.
    fn generator_support(&mut self) {
        let Ok(model) = serde_json::from_value::<openapiv3::OpenAPI>(self.doc.value.clone()) else {
            return;
        };
        for (pointer, message) in crate::support::unsupported(&model) {
            self.report(&pointer, message);
        }
    }

    fn check_path_parameters(
        &mut self,
        path: &str,
        operation: &str,
        declared: &BTreeMap<String, String>,
    ) {
        let named: BTreeSet<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect();
        for (name, pointer) in declared {
            if !named.contains(name.as_str()) {
                self.report(
                    pointer,
                    format!("path parameter `{name}` is not named in the path `{path}`"),
                );
            }
        }
        for name in named {
            if !declared.contains_key(name) {
                self.report(
                    operation,
                    format!("the path `{path}` names `{{{name}}}`, but no path parameter `{name}` is declared"),
                );
            }
        }
    }

    /// progenitor generates one body type per operation.
    fn request_media_types(&mut self, operation: &str) {
        let pointer = format!("{operation}/requestBody");
        let Some(body) = self.at(&pointer).map(|body| self.dereference(body).clone()) else {
            return;
        };
        if let Some(Value::Object(content)) = body.get("content")
            && content.len() > 1
        {
            let types: Vec<&str> = content.keys().map(String::as_str).collect();
            self.report(
                &format!("{pointer}/content"),
                format!("more than one request media type ({}): progenitor generates one body per operation", types.join(", ")),
            );
        }
    }

    /// progenitor generates one success type and one error type per operation.
    fn response_schemas(&mut self, operation: &str) {
        let pointer = format!("{operation}/responses");
        let Some(Value::Object(responses)) = self.at(&pointer).cloned() else {
            return;
        };
        let mut success: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut error: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (status, response) in &responses {
            let response = self.dereference(response);
            let schema = response
                .get("content")
                .and_then(Value::as_object)
                .and_then(|content| content.values().next())
                .and_then(|media| media.get("schema"))
                .map_or_else(
                    || "no body".to_owned(),
                    |schema| match schema.get("$ref") {
                        Some(Value::String(reference)) => reference.clone(),
                        _ => schema.to_string(),
                    },
                );
            let kind = if status.starts_with('2') { &mut success } else { &mut error };
            kind.entry(schema).or_default().push(status.clone());
        }
        for (kind, schemas) in [("success", success), ("error", error)] {
            if schemas.len() > 1 {
                let listed: Vec<String> = schemas
                    .iter()
                    .map(|(schema, statuses)| format!("{} → {schema}", statuses.join("/")))
                    .collect();
                self.report(
                    &pointer,
                    format!("more than one {kind} schema ({}): progenitor needs one {kind} type per operation", listed.join("; ")),
                );
            }
        }
    }

    /// What a `$ref` names, or the value itself (a broken `$ref` is reported by `references`).
    fn dereference<'v>(&'v self, value: &'v Value) -> &'v Value {
        walk::resolve(&self.doc.value, value).unwrap_or(value)
    }
}

/// Reads `value` as a `T` of openapiv3's model; on failure, the pointer (below `base`) and the message.
fn model_error<T: serde::de::DeserializeOwned>(
    value: &Value,
    base: &str,
) -> Result<(), (String, String)> {
    match serde_path_to_error::deserialize::<_, T>(value.clone()) {
        Ok(_) => Ok(()),
        Err(error) => {
            let pointer = error
                .path()
                .iter()
                .filter_map(|segment| match segment {
                    serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                    serde_path_to_error::Segment::Map { key } => Some(escape_token(key)),
                    serde_path_to_error::Segment::Enum { variant } => Some(escape_token(variant)),
                    serde_path_to_error::Segment::Unknown => None,
                })
                .fold(base.to_owned(), |pointer, token| pointer + "/" + &token);
            Err((pointer, error.inner().to_string()))
        }
    }
}

/// Lower-case ASCII letters and digits in words joined by `_`, starting with a letter: a Rust
/// method name as it is written.
fn is_snake_case(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.contains("__")
        && !name.ends_with('_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `getLiveStreamKey` → `get_live_stream_key`, for the message that suggests it.
fn to_snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (index, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if index > 0 && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c == '-' || c == ' ' {
            out.push('_');
        } else {
            out.push(c);
        }
    }
    out
}

/// Pointers of every top-level schema in the document: components, parameters, headers and bodies.
pub fn schema_roots(document: &Value) -> Vec<String> {
    let mut roots = Vec::new();
    let keys = |value: Option<&Value>| -> Vec<String> {
        value
            .and_then(Value::as_object)
            .map(|map| map.keys().cloned().collect())
            .unwrap_or_default()
    };
    let components = document.get("components");
    for name in keys(components.and_then(|c| c.get("schemas"))) {
        roots.push(format!("/components/schemas/{}", escape_token(&name)));
    }
    let mut parameter_lists = Vec::new();
    let mut bodies = Vec::new();
    let mut responses = Vec::new();
    let mut headers = Vec::new();
    for name in keys(components.and_then(|c| c.get("parameters"))) {
        roots.push(format!("/components/parameters/{}/schema", escape_token(&name)));
    }
    for name in keys(components.and_then(|c| c.get("headers"))) {
        roots.push(format!("/components/headers/{}/schema", escape_token(&name)));
    }
    for name in keys(components.and_then(|c| c.get("requestBodies"))) {
        bodies.push(format!("/components/requestBodies/{}", escape_token(&name)));
    }
    for name in keys(components.and_then(|c| c.get("responses"))) {
        responses.push(format!("/components/responses/{}", escape_token(&name)));
    }
    for path in keys(document.get("paths")) {
        parameter_lists.push(format!("/paths/{}/parameters", escape_token(&path)));
    }
    for operation in walk::operations(document) {
        let operation = &operation.pointer;
        parameter_lists.push(format!("{operation}/parameters"));
        bodies.push(format!("{operation}/requestBody"));
        for status in keys(document.pointer(&format!("{operation}/responses"))) {
            responses.push(format!("{operation}/responses/{}", escape_token(&status)));
        }
    }
    for list in parameter_lists {
        let count = document.pointer(&list).and_then(Value::as_array).map_or(0, Vec::len);
        roots.extend((0..count).map(|index| format!("{list}/{index}/schema")));
    }
    for response in &responses {
        for name in keys(document.pointer(&format!("{response}/headers"))) {
            headers.push(format!("{response}/headers/{}/schema", escape_token(&name)));
        }
    }
    roots.extend(headers);
    for holder in bodies.iter().chain(&responses) {
        for media in keys(document.pointer(&format!("{holder}/content"))) {
            roots.push(format!("{holder}/content/{}/schema", escape_token(&media)));
        }
    }
    roots.retain(|pointer| document.pointer(pointer).is_some());
    roots
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// A small valid spec; each test breaks it in one way.
    const VALID: &str = r##"openapi: 3.0.3
info:
  title: t
  version: '1'
paths:
  /things/{id}:
    parameters:
      - name: id
        in: path
        required: true
        schema:
          type: string
    get:
      operationId: get_thing
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Thing'
        '404':
          $ref: '#/components/responses/Error'
  /things:
    post:
      operationId: create_thing
      requestBody:
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/Thing'
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Thing'
components:
  responses:
    Error:
      description: bad
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
  schemas:
    Thing:
      type: object
      properties:
        name:
          type: string
    Error:
      type: object
      properties:
        message:
          type: string
"##;

    fn findings(text: &str) -> Vec<String> {
        let doc = SpecDocument::parse(Path::new("spec/t.yaml"), text.to_owned()).unwrap();
        lint(&doc).iter().map(ToString::to_string).collect()
    }

    /// Asserts exactly one finding, at `line`, whose text contains `pointer` and `message`.
    #[track_caller]
    fn assert_single(text: &str, line: usize, pointer: &str, message: &str) {
        let found = findings(text);
        assert_eq!(found.len(), 1, "expected one finding, got {found:#?}");
        let expected_start = format!("spec/t.yaml:{line}: {pointer}: ");
        assert!(
            found[0].starts_with(&expected_start),
            "{} does not start with {expected_start}",
            found[0]
        );
        assert!(found[0].contains(message), "{} does not contain {message}", found[0]);
    }

    #[test]
    fn the_valid_spec_is_clean() {
        assert_eq!(findings(VALID), Vec::<String>::new());
    }

    #[test]
    fn both_project_specs_are_clean() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for api in crate::registry::APIS {
            let doc = SpecDocument::load(&root.join(api.spec_path())).unwrap();
            let found: Vec<String> = lint(&doc).iter().map(ToString::to_string).collect();
            assert!(found.is_empty(), "{}:\n{}", api.spec, found.join("\n"));
        }
    }

    #[test]
    fn openapi_3_1_is_rejected() {
        let text = VALID.replace("openapi: 3.0.3", "openapi: 3.1.0");
        assert_single(&text, 1, "/openapi", "OpenAPI 3.1.0 is not supported");
    }

    #[test]
    fn duplicate_operation_ids_are_rejected() {
        let text = VALID.replace("operationId: create_thing", "operationId: get_thing");
        assert_single(
            &text,
            26,
            "/paths/~1things/post/operationId",
            "duplicate operationId `get_thing` (first at line 14)",
        );
    }

    #[test]
    fn missing_operation_ids_are_rejected() {
        let text = VALID.replace("      operationId: create_thing\n", "");
        assert_single(&text, 25, "/paths/~1things/post", "`POST /things` has no `operationId`");
    }

    #[test]
    fn references_to_nothing_are_rejected() {
        let text = VALID.replace(
            "            $ref: '#/components/schemas/Error'",
            "            $ref: '#/components/schemas/Eror'",
        );
        assert_single(
            &text,
            46,
            "/components/responses/Error/content/application~1json/schema/$ref",
            "`$ref` to nothing: `#/components/schemas/Eror` does not exist",
        );
    }

    #[test]
    fn external_references_are_rejected() {
        let text = VALID.replace(
            "            $ref: '#/components/schemas/Error'",
            "            $ref: 'other.yaml#/Error'",
        );
        assert_single(
            &text,
            46,
            "/components/responses/Error/content/application~1json/schema/$ref",
            "must be a local reference such as `#/components/schemas/Name`, not \"other.yaml#/Error\"",
        );
    }

    #[test]
    fn siblings_of_a_reference_are_rejected() {
        let text = VALID.replace(
            "            $ref: '#/components/schemas/Error'",
            "            $ref: '#/components/schemas/Error'\n            description: lost",
        );
        assert_single(
            &text,
            45,
            "/components/responses/Error/content/application~1json/schema",
            "`description` beside `$ref` is ignored",
        );
    }

    #[test]
    fn schemas_without_type_are_rejected() {
        let text = VALID.replace(
            "        name:\n          type: string\n",
            "        name:\n          minLength: 1\n",
        );
        assert_single(
            &text,
            51,
            "/components/schemas/Thing/properties/name",
            "schema without `type`",
        );
    }

    #[test]
    fn compositions_need_no_type() {
        let text = VALID.replace(
            "    Error:\n      type: object\n",
            "    Either:\n      oneOf:\n        - $ref: '#/components/schemas/Thing'\n    Error:\n      type: object\n",
        );
        assert_eq!(findings(&text), Vec::<String>::new());
    }

    #[test]
    fn path_parameters_the_path_does_not_name_are_rejected() {
        let text = VALID.replace("      - name: id\n", "      - name: thing_id\n");
        let found = findings(&text);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found.iter().any(|f| f.starts_with("spec/t.yaml:8: /paths/~1things~1{id}/parameters/0: path parameter `thing_id` is not named in the path `/things/{id}`")), "{found:#?}");
        assert!(found.iter().any(|f| f.starts_with("spec/t.yaml:13: /paths/~1things~1{id}/get: the path `/things/{id}` names `{id}`, but no path parameter `id` is declared")), "{found:#?}");
    }

    #[test]
    fn operation_ids_are_snake_case() {
        let text = VALID.replace("operationId: create_thing", "operationId: createThing");
        let found = findings(&text);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].contains(
                "/paths/~1things/post/operationId: operationId `createThing` is not snake_case"
            ),
            "{found:#?}"
        );
        assert!(found[0].ends_with("(write it as `create_thing`)"), "{found:#?}");
    }

    /// What the server generator would leave out is a located finding, not a silent gap: a `head`
    /// operation, a header parameter, a multipart body.
    #[test]
    fn what_the_server_generator_cannot_serve_is_a_finding() {
        let text = VALID
            .replace("    post:\n", "    head:\n      operationId: peek_things\n      responses:\n        '200':\n          description: ok\n    post:\n")
            .replace("application/json:\n            schema:\n              $ref: '#/components/schemas/Thing'\n      responses:", "multipart/form-data:\n            schema:\n              $ref: '#/components/schemas/Thing'\n      responses:");
        let found = findings(&text);
        assert!(
            found.iter().any(|f| f.contains(
                "/paths/~1things/head: `HEAD` operations are not supported by the server generator"
            )),
            "{found:#?}"
        );
        assert!(found.iter().any(|f| f.contains("/paths/~1things/post/requestBody/content/multipart~1form-data: `multipart/form-data` bodies are not supported")), "{found:#?}");
        let header = VALID.replace("in: path", "in: header");
        let found = findings(&header);
        assert!(
            found
                .iter()
                .any(|f| f.contains("`in: header` is not supported by the server generator")),
            "{found:#?}"
        );
    }

    #[test]
    fn several_request_media_types_are_rejected() {
        let text = VALID.replace(
            "              $ref: '#/components/schemas/Thing'\n      responses:",
            "              $ref: '#/components/schemas/Thing'\n          application/xml:\n            schema:\n              $ref: '#/components/schemas/Thing'\n      responses:",
        );
        let found = findings(&text);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].starts_with("spec/t.yaml:28: /paths/~1things/post/requestBody/content: more than one request media type (application/json, application/xml)"), "{found:#?}");
        assert!(found[1].starts_with("spec/t.yaml:32: /paths/~1things/post/requestBody/content/application~1xml: `application/xml` bodies are not supported by the server generator"), "{found:#?}");
    }

    #[test]
    fn several_success_schemas_are_rejected() {
        let text = VALID.replace(
            "        '404':\n",
            "        '201':\n          description: made\n          content:\n            application/json:\n              schema:\n                $ref: '#/components/schemas/Error'\n        '404':\n",
        );
        assert_single(
            &text,
            15,
            "/paths/~1things~1{id}/get/responses",
            "more than one success schema",
        );
    }

    #[test]
    fn several_error_schemas_are_rejected() {
        let text = VALID.replace(
            "        '404':\n",
            "        '400':\n          description: bad\n          content:\n            application/json:\n              schema:\n                $ref: '#/components/schemas/Thing'\n        '404':\n",
        );
        assert_single(
            &text,
            15,
            "/paths/~1things~1{id}/get/responses",
            "more than one error schema",
        );
    }

    #[test]
    fn documents_openapiv3_cannot_read_are_rejected() {
        let text = VALID.replace(
            "      operationId: get_thing\n",
            "      operationId: get_thing\n      deprecated: sometimes\n",
        );
        assert_single(
            &text,
            15,
            "/paths/~1things~1{id}/get/deprecated",
            "not a valid OpenAPI 3.0 document",
        );
    }

    #[test]
    fn examples_that_break_their_schema_are_rejected() {
        let text = VALID.replace(
            "            schema:\n              $ref: '#/components/schemas/Thing'\n      responses:",
            "            schema:\n              $ref: '#/components/schemas/Thing'\n            example:\n              name: 5\n      responses:",
        );
        assert_single(
            &text,
            32,
            "/paths/~1things/post/requestBody/content/application~1json/example",
            "example does not match its schema: `/name`: 5 is not of type \"string\"",
        );
    }
}
