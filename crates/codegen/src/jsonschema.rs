//! OpenAPI 3.0 schemas to JSON Schema (draft 2020-12): one bundle per API, written to
//! `crates/conformance/schemas/<api>.json` by `cargo xtask regenerate`.
//!
//! The bundle holds every component under `$defs`, plus `Name.request` / `Name.response` variants where
//! `readOnly` / `writeOnly` make them differ, and an `x-operations` index that says which definition each
//! operation's request and responses use. What changes on the way:
//!
//! - `nullable: true` adds `"null"` to `type`, and `null` to `enum` when there is one; a nullable
//!   schema without a `type` (an `allOf` over a `$ref`) becomes an `anyOf` of it and `null`;
//! - `readOnly` properties are forbidden (and not required) in `.request` variants, `writeOnly` ones in
//!   `.response` variants (so no response can carry a secret); a property whose `$ref` target is itself
//!   `writeOnly` (the `Secret` schema) counts as `writeOnly`;
//! - `format: int32` / `int64` become `minimum` / `maximum`; `float`, `double` and `password` are dropped
//!   (annotations only); `uuid`, `date-time`, `uri` and the other JSON Schema formats are kept and asserted;
//! - a `oneOf` with a `discriminator` becomes a dispatch on the tag (`if` the tag is `k`, `then` the
//!   mapped schema), so an error points inside the branch that was meant instead of "no branch matched";
//! - 3.0's boolean `exclusiveMinimum` / `exclusiveMaximum` become 2020-12's numbers;
//! - `$ref: '#/components/schemas/X'` becomes `#/$defs/X` (or its variant);
//! - `example`, `x-*` extensions, `discriminator`, `xml`, `externalDocs` are dropped: not constraints.
//!
//! Any other keyword is an error, so a spec feature this converter does not know is never silently
//! ignored.

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use crate::walk::component_schema;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Direction {
    Request,
    Response,
}

impl Direction {
    fn suffix(self) -> &'static str {
        match self {
            Direction::Request => "request",
            Direction::Response => "response",
        }
    }

    /// The annotation that forbids a property in this direction.
    fn forbidden_by(self) -> &'static str {
        match self {
            Direction::Request => "readOnly",
            Direction::Response => "writeOnly",
        }
    }
}

/// Converts a whole spec into its bundle; `comment` becomes the bundle's `$comment`.
pub fn bundle(spec: &Value, comment: &str) -> Result<Value> {
    let components =
        spec.pointer("/components/schemas").and_then(Value::as_object).cloned().unwrap_or_default();
    let converter = Converter::new(&components);
    let mut defs = Map::new();
    for (name, schema) in &components {
        defs.insert(
            name.clone(),
            converter.convert(schema, None).with_context(|| format!("schema {name}"))?,
        );
        for direction in [Direction::Request, Direction::Response] {
            if converter.differs(name, direction) {
                let variant = converter
                    .convert(schema, Some(direction))
                    .with_context(|| format!("schema {name} ({})", direction.suffix()))?;
                defs.insert(format!("{name}.{}", direction.suffix()), variant);
            }
        }
    }
    let operations = operations(spec, &converter)?;
    Ok(json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": comment,
        "title": spec.pointer("/info/title").cloned().unwrap_or(Value::Null),
        "$defs": defs,
        "x-operations": operations,
    }))
}

/// For each operation: its method, path, and the definitions of its request body and responses.
fn operations(spec: &Value, converter: &Converter<'_>) -> Result<Value> {
    let mut operations = Map::new();
    let resolve = |value: &Value| -> Value {
        crate::walk::resolve(spec, value).cloned().unwrap_or(Value::Null)
    };
    let base = spec
        .pointer("/servers/0/url")
        .and_then(Value::as_str)
        .and_then(|url| url.split_once("://").map(|(_, rest)| rest))
        .and_then(|rest| rest.find('/').map(|slash| rest[slash..].trim_end_matches('/').to_owned()))
        .unwrap_or_default();
    for walked in crate::walk::operations(spec) {
        let (path, method, operation) = (walked.path, walked.method, walked.operation);
        {
            let Some(id) = walked.id() else {
                continue;
            };
            let definition = |schema: Option<&Value>, direction| -> Result<Value> {
                let Some(schema) = schema else {
                    return Ok(Value::Null);
                };
                let name = schema
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(component_schema)
                    .with_context(|| {
                        format!("{id}: bodies must be a $ref to a component schema")
                    })?;
                Ok(Value::String(converter.def_name(&name, Some(direction))))
            };
            let request = operation
                .get("requestBody")
                .map(resolve)
                .and_then(|body| body.pointer("/content/application~1json/schema").cloned());
            let mut responses = Map::new();
            for (status, response) in
                operation.get("responses").and_then(Value::as_object).into_iter().flatten()
            {
                let response = resolve(response);
                let schema = response.pointer("/content/application~1json/schema");
                responses.insert(status.clone(), definition(schema, Direction::Response)?);
            }
            operations.insert(
                id.to_owned(),
                json!({
                    "method": method.to_uppercase(),
                    "path": format!("{base}{path}"),
                    "request": definition(request.as_ref(), Direction::Request)?,
                    "responses": responses,
                }),
            );
        }
    }
    Ok(Value::Object(operations))
}

struct Converter<'a> {
    components: &'a Map<String, Value>,
    /// The components that have a variant of their own in each direction.
    variants: BTreeSet<(String, Direction)>,
}

impl<'a> Converter<'a> {
    fn new(components: &'a Map<String, Value>) -> Self {
        let mut converter = Converter { components, variants: BTreeSet::new() };
        // A component differs in a direction when it forbids a property there, or refers to one that
        // differs: iterate to a fixed point.
        loop {
            let before = converter.variants.len();
            for name in components.keys() {
                for direction in [Direction::Request, Direction::Response] {
                    if converter.needs_variant(&components[name], direction) {
                        converter.variants.insert((name.clone(), direction));
                    }
                }
            }
            if converter.variants.len() == before {
                break;
            }
        }
        converter
    }

    fn differs(&self, name: &str, direction: Direction) -> bool {
        self.variants.contains(&(name.to_owned(), direction))
    }

    fn def_name(&self, name: &str, direction: Option<Direction>) -> String {
        match direction {
            Some(direction) if self.differs(name, direction) => {
                format!("{name}.{}", direction.suffix())
            }
            _ => name.to_owned(),
        }
    }

    fn needs_variant(&self, schema: &Value, direction: Direction) -> bool {
        let Some(map) = schema.as_object() else {
            return false;
        };
        if let Some(name) = map.get("$ref").and_then(Value::as_str).and_then(component_schema) {
            return self.differs(&name, direction);
        }
        let forbids = map
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|properties| properties.values().any(|p| self.forbidden(p, direction)));
        forbids || children(map).any(|child| self.needs_variant(child, direction))
    }

    /// Whether a property schema is forbidden in `direction` (directly, or through its `$ref`).
    fn forbidden(&self, property: &Value, direction: Direction) -> bool {
        let key = direction.forbidden_by();
        if property.get(key) == Some(&Value::Bool(true)) {
            return true;
        }
        property
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(component_schema)
            .and_then(|name| self.components.get(&name))
            .is_some_and(|target| target.get(key) == Some(&Value::Bool(true)))
    }

    fn convert(&self, schema: &Value, direction: Option<Direction>) -> Result<Value> {
        let Some(map) = schema.as_object() else {
            return Ok(schema.clone());
        };
        if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
            let name = component_schema(reference).with_context(|| {
                format!("only `#/components/schemas/` references are supported: {reference}")
            })?;
            return Ok(json!({"$ref": format!("#/$defs/{}", self.def_name(&name, direction))}));
        }
        let mut out = Map::new();
        let nullable = map.get("nullable") == Some(&Value::Bool(true));
        let mut forbidden: BTreeSet<String> = BTreeSet::new();
        for (key, value) in map {
            match key.as_str() {
                "type" => {
                    let kind = value.clone();
                    out.insert(key.clone(), if nullable { json!([kind, "null"]) } else { kind });
                }
                "enum" => {
                    let mut values = value.as_array().cloned().context("enum must be an array")?;
                    if nullable && !values.contains(&Value::Null) {
                        values.push(Value::Null);
                    }
                    out.insert(key.clone(), Value::Array(values));
                }
                "format" => match value.as_str() {
                    Some("int32") => {
                        bounds(&mut out, map, i64::from(i32::MIN), i64::from(i32::MAX))
                    }
                    Some("int64") => bounds(&mut out, map, i64::MIN, i64::MAX),
                    Some("float" | "double" | "password" | "byte" | "binary") => {}
                    _ => {
                        out.insert(key.clone(), value.clone());
                    }
                },
                "minimum" | "maximum" => {
                    let exclusive = format!("exclusive{}", capitalize(key));
                    if map.get(&exclusive) == Some(&Value::Bool(true)) {
                        out.insert(exclusive, value.clone());
                    } else if !matches!(
                        map.get("format").and_then(Value::as_str),
                        Some("int32" | "int64")
                    ) {
                        out.insert(key.clone(), value.clone());
                    } // else `bounds` merged it with the format's range.
                }
                "exclusiveMinimum" | "exclusiveMaximum" | "nullable" | "example"
                | "discriminator" | "xml" | "externalDocs" => {}
                "properties" => {
                    let mut properties = Map::new();
                    for (name, property) in
                        value.as_object().context("properties must be an object")?
                    {
                        if direction.is_some_and(|d| self.forbidden(property, d)) {
                            forbidden.insert(name.clone());
                            properties.insert(name.clone(), Value::Bool(false));
                        } else {
                            properties.insert(name.clone(), self.convert(property, direction)?);
                        }
                    }
                    out.insert(key.clone(), Value::Object(properties));
                }
                "items" | "not" | "additionalProperties" => {
                    out.insert(key.clone(), self.convert(value, direction)?);
                }
                "oneOf" if map.contains_key("discriminator") => {
                    self.dispatch(&mut out, &map["discriminator"], direction)?
                }
                "allOf" | "anyOf" | "oneOf" => {
                    let items =
                        value.as_array().with_context(|| format!("{key} must be an array"))?;
                    let converted: Result<Vec<Value>> =
                        items.iter().map(|item| self.convert(item, direction)).collect();
                    out.insert(key.clone(), Value::Array(converted?));
                }
                "required" | "description" | "title" | "default" | "readOnly" | "writeOnly"
                | "pattern" | "minLength" | "maxLength" | "minItems" | "maxItems"
                | "uniqueItems" | "minProperties" | "maxProperties" | "multipleOf"
                | "deprecated" => {
                    out.insert(key.clone(), value.clone());
                }
                other if other.starts_with("x-") => {}
                other => {
                    bail!("the keyword `{other}` is not supported by the JSON Schema conversion")
                }
            }
        }
        if !forbidden.is_empty()
            && let Some(Value::Array(required)) = out.get_mut("required")
        {
            required.retain(|name| name.as_str().is_none_or(|name| !forbidden.contains(name)));
        }
        if nullable && !map.contains_key("type") {
            // A schema with no `type` of its own (`allOf` over a `$ref`) takes `null` as a branch.
            return Ok(json!({"anyOf": [Value::Object(out), {"type": "null"}]}));
        }
        Ok(Value::Object(out))
    }

    /// `oneOf` + `discriminator` as a dispatch on the tag.
    fn dispatch(
        &self,
        out: &mut Map<String, Value>,
        discriminator: &Value,
        direction: Option<Direction>,
    ) -> Result<()> {
        let property =
            discriminator.get("propertyName").and_then(Value::as_str).context("propertyName")?;
        let mapping = discriminator
            .get("mapping")
            .and_then(Value::as_object)
            .context("a discriminator needs an explicit mapping")?;
        let mut branches = Vec::new();
        let mut tags = Vec::new();
        for (tag, target) in mapping {
            let target = self.convert(&json!({"$ref": target}), direction)?;
            tags.push(Value::String(tag.clone()));
            branches.push(json!({
                "if": {"properties": {property: {"const": tag}}, "required": [property]},
                "then": target,
            }));
        }
        out.insert("type".to_owned(), json!("object"));
        out.insert("required".to_owned(), json!([property]));
        out.insert("properties".to_owned(), json!({property: {"enum": tags}}));
        out.insert("allOf".to_owned(), Value::Array(branches));
        Ok(())
    }
}

/// The range of an integer format, narrowed by the spec's own bounds.
fn bounds(out: &mut Map<String, Value>, original: &Map<String, Value>, min: i64, max: i64) {
    let spec_min = original.get("minimum").and_then(Value::as_i64).unwrap_or(min);
    let spec_max = original.get("maximum").and_then(Value::as_i64).unwrap_or(max);
    out.insert("minimum".to_owned(), json!(spec_min.max(min)));
    out.insert("maximum".to_owned(), json!(spec_max.min(max)));
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The direct subschemas of a schema object (not through `$ref`).
fn children(map: &Map<String, Value>) -> impl Iterator<Item = &Value> {
    let properties =
        map.get("properties").and_then(Value::as_object).into_iter().flat_map(|p| p.values());
    let lists = ["allOf", "anyOf", "oneOf"]
        .into_iter()
        .filter_map(|key| map.get(key).and_then(Value::as_array))
        .flatten();
    let singles =
        ["items", "not", "additionalProperties"].into_iter().filter_map(|key| map.get(key));
    properties.chain(lists).chain(singles)
}

/// Every `example` and named example in the spec, validated against its schema (in the direction it is
/// used); the pointer of each example that fails, with why.
pub fn check_examples(spec: &Value) -> Result<Vec<(String, String)>> {
    let bundle = bundle(spec, "")?;
    let components =
        spec.pointer("/components/schemas").and_then(Value::as_object).cloned().unwrap_or_default();
    let converter = Converter::new(&components);
    let mut examples: Vec<(String, Value, Option<Direction>, Value)> = Vec::new();
    for (name, schema) in &components {
        if let Some(example) = schema.get("example") {
            let pointer =
                format!("/components/schemas/{}/example", crate::spec::escape_token(name));
            examples.push((pointer, schema.clone(), None, example.clone()));
        }
    }
    collect_examples(spec, spec, String::new(), None, &mut examples);
    let mut failures = Vec::new();
    for (pointer, schema, direction, example) in examples {
        let converted = converter.convert(&schema, direction)?;
        let mut root = converted.as_object().cloned().unwrap_or_default();
        root.insert("$defs".to_owned(), bundle["$defs"].clone());
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&Value::Object(root))
            .map_err(|error| anyhow::anyhow!("{pointer}: the schema does not compile: {error}"))?;
        let errors: Vec<String> = validator
            .iter_errors(&example)
            .map(|error| format!("`{}`: {error}", error.instance_path()))
            .collect();
        if !errors.is_empty() {
            failures.push((
                pointer,
                format!("example does not match its schema: {}", errors.join("; ")),
            ));
        }
    }
    Ok(failures)
}

/// Finds media-type and parameter examples: `(pointer, schema, direction, value)`.
fn collect_examples(
    spec: &Value,
    value: &Value,
    pointer: String,
    direction: Option<Direction>,
    out: &mut Vec<(String, Value, Option<Direction>, Value)>,
) {
    let Some(map) = value.as_object() else {
        return;
    };
    let direction = if pointer.ends_with("/requestBody") || pointer.contains("/parameters/") {
        Some(Direction::Request)
    } else if pointer.ends_with("/responses") || pointer.starts_with("/components/responses") {
        Some(Direction::Response)
    } else {
        direction
    };
    if let Some(schema) = map.get("schema").filter(|_| !pointer.starts_with("/components/schemas"))
    {
        if let Some(example) = map.get("example") {
            out.push((format!("{pointer}/example"), schema.clone(), direction, example.clone()));
        }
        for (name, example) in map.get("examples").and_then(Value::as_object).into_iter().flatten()
        {
            let example = crate::walk::resolve(spec, example).unwrap_or(&Value::Null);
            if let Some(example) = example.get("value") {
                let here = format!("{pointer}/examples/{}", crate::spec::escape_token(name));
                out.push((here, schema.clone(), direction, example.clone()));
            }
        }
    }
    for (key, child) in map {
        if matches!(key.as_str(), "examples" | "example" | "schema" | "schemas") {
            continue;
        }
        let here = format!("{pointer}/{}", crate::spec::escape_token(key));
        match child {
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    collect_examples(spec, item, format!("{here}/{index}"), direction, out);
                }
            }
            _ => collect_examples(spec, child, here, direction, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spec whose components are `schemas`, converted.
    fn convert(schemas: Value) -> Value {
        let spec = json!({"openapi": "3.0.3", "components": {"schemas": schemas}, "paths": {}});
        bundle(&spec, "test").unwrap()["$defs"].clone()
    }

    fn validator(defs: &Value, name: &str) -> jsonschema::Validator {
        let schema = json!({"$defs": defs, "$ref": format!("#/$defs/{name}")});
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&schema)
            .unwrap()
    }

    #[test]
    fn nullable_adds_null_to_type_and_enum() {
        let defs = convert(json!({
            "A": {"type": "string", "nullable": true},
            "B": {"type": "string", "enum": ["x"], "nullable": true},
        }));
        assert_eq!(defs["A"], json!({"type": ["string", "null"]}));
        assert_eq!(defs["B"], json!({"type": ["string", "null"], "enum": ["x", null]}));
        assert!(validator(&defs, "B").is_valid(&Value::Null));
        assert!(!validator(&defs, "B").is_valid(&json!("y")));
    }

    #[test]
    fn a_nullable_reference_takes_null_too() {
        let defs = convert(json!({
            "Inner": {"type": "object", "required": ["id"]},
            "Outer": {
                "type": "object",
                "properties": {
                    "inner": {"nullable": true, "allOf": [{"$ref": "#/components/schemas/Inner"}]},
                },
            },
        }));
        let outer = validator(&defs, "Outer");
        assert!(outer.is_valid(&json!({"inner": null})));
        assert!(outer.is_valid(&json!({"inner": {"id": 1}})));
        assert!(!outer.is_valid(&json!({"inner": {}})));
    }

    #[test]
    fn read_only_and_write_only_make_request_and_response_variants() {
        let defs = convert(json!({
            "Secret": {"type": "string", "writeOnly": true},
            "Thing": {
                "type": "object",
                "required": ["id", "password", "name"],
                "properties": {
                    "id": {"type": "string", "readOnly": true},
                    "password": {"$ref": "#/components/schemas/Secret"},
                    "name": {"type": "string"},
                },
            },
            "Holder": {"type": "object", "properties": {"thing": {"$ref": "#/components/schemas/Thing"}}},
            "Plain": {"type": "object", "properties": {"name": {"type": "string"}}},
        }));
        assert_eq!(defs["Thing.request"]["required"], json!(["password", "name"]));
        assert_eq!(defs["Thing.request"]["properties"]["id"], json!(false));
        assert_eq!(defs["Thing.response"]["required"], json!(["id", "name"]));
        assert_eq!(defs["Thing.response"]["properties"]["password"], json!(false));
        assert_eq!(
            defs["Holder.response"]["properties"]["thing"],
            json!({"$ref": "#/$defs/Thing.response"})
        );
        assert!(defs.get("Plain.request").is_none(), "no variant where nothing differs");
        let response = validator(&defs, "Thing.response");
        assert!(response.is_valid(&json!({"id": "1", "name": "n"})));
        assert!(!response.is_valid(&json!({"id": "1", "name": "n", "password": "leak"})));
        assert!(validator(&defs, "Thing.request").is_valid(&json!({"password": "p", "name": "n"})));
    }

    #[test]
    fn formats_are_kept_or_become_bounds() {
        let defs = convert(json!({
            "Id": {"type": "string", "format": "uuid"},
            "At": {"type": "string", "format": "date-time"},
            "Url": {"type": "string", "format": "uri"},
            "Small": {"type": "integer", "format": "int32", "minimum": 1},
            "Big": {"type": "integer", "format": "int64"},
            "Pw": {"type": "string", "format": "password"},
        }));
        assert_eq!(defs["Small"], json!({"type": "integer", "minimum": 1, "maximum": 2147483647}));
        assert_eq!(defs["Big"]["maximum"], json!(i64::MAX));
        assert_eq!(defs["Pw"], json!({"type": "string"}));
        assert!(!validator(&defs, "Id").is_valid(&json!("not-a-uuid")));
        assert!(validator(&defs, "Id").is_valid(&json!("0b5c9f2e-6a55-4c1e-9a52-1f0d8a4b7c31")));
        assert!(!validator(&defs, "At").is_valid(&json!("yesterday")));
        assert!(validator(&defs, "At").is_valid(&json!("2026-11-23T10:15:30Z")));
        assert!(!validator(&defs, "Url").is_valid(&json!("not a uri")));
        assert!(!validator(&defs, "Small").is_valid(&json!(2147483648i64)));
        assert!(!validator(&defs, "Small").is_valid(&json!(0)));
    }

    #[test]
    fn exclusive_bounds_become_numbers() {
        let defs =
            convert(json!({"N": {"type": "number", "minimum": 0, "exclusiveMinimum": true}}));
        assert_eq!(defs["N"], json!({"type": "number", "exclusiveMinimum": 0}));
    }

    #[test]
    fn a_discriminator_dispatches_on_its_tag() {
        let defs = convert(json!({
            "Cat": {"type": "object", "required": ["kind", "lives"], "properties": {"kind": {"type": "string", "enum": ["cat"]}, "lives": {"type": "integer"}}},
            "Dog": {"type": "object", "required": ["kind"], "properties": {"kind": {"type": "string", "enum": ["dog"]}}},
            "Pet": {
                "oneOf": [{"$ref": "#/components/schemas/Cat"}, {"$ref": "#/components/schemas/Dog"}],
                "discriminator": {"propertyName": "kind", "mapping": {"cat": "#/components/schemas/Cat", "dog": "#/components/schemas/Dog"}},
            },
        }));
        let pet = validator(&defs, "Pet");
        assert!(pet.is_valid(&json!({"kind": "dog"})));
        assert!(pet.is_valid(&json!({"kind": "cat", "lives": 9})));
        let errors: Vec<String> = pet
            .iter_errors(&json!({"kind": "cat", "lives": "nine"}))
            .map(|e| e.instance_path().to_string())
            .collect();
        assert_eq!(errors, ["/lives"], "the error is inside the branch the tag names");
        assert!(!pet.is_valid(&json!({"kind": "bird"})));
        assert!(!pet.is_valid(&json!({})));
    }

    #[test]
    fn one_of_all_of_and_additional_properties_are_kept() {
        let defs = convert(json!({
            "A": {"type": "object", "additionalProperties": false, "properties": {"a": {"type": "string"}}},
            "B": {"type": "object", "properties": {"b": {"type": "string"}}},
            "Either": {"oneOf": [{"$ref": "#/components/schemas/A"}, {"$ref": "#/components/schemas/B"}]},
            "Both": {"allOf": [{"$ref": "#/components/schemas/B"}, {"type": "object", "required": ["b"]}]},
            "Map": {"type": "object", "additionalProperties": {"type": "integer"}},
        }));
        assert_eq!(defs["Either"]["oneOf"][0], json!({"$ref": "#/$defs/A"}));
        assert!(!validator(&defs, "A").is_valid(&json!({"a": "x", "z": 1})));
        assert!(!validator(&defs, "Both").is_valid(&json!({})));
        assert!(validator(&defs, "Map").is_valid(&json!({"x": 1})));
        assert!(!validator(&defs, "Map").is_valid(&json!({"x": "1"})));
    }

    #[test]
    fn examples_and_extensions_are_not_constraints() {
        let defs = convert(json!({"S": {"type": "string", "example": "hello", "x-anything": 1}}));
        assert_eq!(defs["S"], json!({"type": "string"}));
        assert!(validator(&defs, "S").is_valid(&json!("not hello")));
    }

    #[test]
    fn examples_that_break_their_schema_are_found() {
        let spec = json!({
            "openapi": "3.0.3",
            "paths": {"/a": {"post": {
                "operationId": "a",
                "requestBody": {"content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/A"},
                    "examples": {"good": {"value": {"n": 1}}, "bad": {"value": {"n": "one"}}},
                }}},
                "responses": {},
            }}},
            "components": {"schemas": {
                "A": {"type": "object", "properties": {"n": {"type": "integer"}}},
                "B": {"type": "string", "format": "uuid", "example": "nope"},
            }},
        });
        let failures = check_examples(&spec).unwrap();
        let pointers: Vec<&str> = failures.iter().map(|(pointer, _)| pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/components/schemas/B/example",
                "/paths/~1a/post/requestBody/content/application~1json/examples/bad"
            ]
        );
        assert!(failures[1].1.contains("`/n`"), "{}", failures[1].1);
    }

    #[test]
    fn unknown_keywords_are_errors() {
        let spec =
            json!({"components": {"schemas": {"S": {"type": "string", "patternProperties": {}}}}});
        let error = format!("{:#}", bundle(&spec, "t").unwrap_err());
        assert!(error.contains("`patternProperties` is not supported"), "{error}");
    }

    #[test]
    fn the_storm_ingest_rules_are_enforced() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let doc = crate::spec::SpecDocument::load(&root.join("spec/storm.yaml")).unwrap();
        let bundle = bundle(&doc.value, "t").unwrap();
        let v = validator(&bundle["$defs"], "IngestSettingsAttributes");
        for (payload, valid) in [
            (json!({}), true),
            (json!({"authorizationEnabled": false}), true),
            (json!({"authorizationEnabled": true}), false),
            (json!({"authorizationEnabled": true, "authType": "managed"}), true),
            (json!({"authType": "request"}), false),
            (json!({"authType": "request", "requestURL": "https://a.example/${streamKey}"}), true),
            (json!({"authType": "request", "requestURL": "ftp://a.example"}), false),
            (json!({"authType": "file"}), false),
            (json!({"authType": "file", "fileURL": "relative.xml"}), false),
            (json!({"authType": "file", "fileURL": "/etc/storm/keys.xml"}), true),
            (json!({"authType": "local"}), false),
            (json!({"authType": "local", "authUsers": []}), false),
            (
                json!({"authType": "local", "authUsers": [{"username": "a", "password": "b", "token": "c"}]}),
                false,
            ),
            (json!({"authType": "local", "authUsers": [{"token": "c", "expire": 1}]}), true),
        ] {
            assert_eq!(v.is_valid(&payload), valid, "{payload}");
        }
    }
}
