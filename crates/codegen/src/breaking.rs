//! `cargo xtask lint --breaking [--base REV]`: what a spec edit breaks, for clients and for servers.
//!
//! Each spec is compared with its text at a git revision (default: the merge base with `main`, so on
//! `main` itself the last commit). A change is breaking for **clients** when a request that worked may
//! now be refused, or an answer they understood may now surprise them; for **servers** when an
//! implementation that conformed may no longer (and the generated trait or types no longer fit it).
//!
//! | change | request side (clients send) | response side (servers send) |
//! | --- | --- | --- |
//! | field removed | clients and servers | clients |
//! | field became required | clients | servers |
//! | field became optional | servers | clients |
//! | enum value removed | clients | servers |
//! | enum value added | servers | clients |
//! | type changed | both | both |
//! | bound tightened (length, range, items, pattern) | clients | - |
//! | bound loosened | - | clients |
//!
//! An operation removed or moved, a status code no longer documented, a response header removed, a
//! required parameter added, a body that became required and a new validation rule are breaking too.
//! Adding an operation, an optional field, a parameter, a status code or a header is not; [`changes`]
//! lists those too, so a spec edit's whole effect can be read.
//!
//! A breaking change is acknowledged by a line added to `spec/CHANGELOG.md` since the base revision
//! that contains `Breaking`, the operation's `operationId` in backquotes (or the schema's name for a
//! component no operation uses) and, for a change of one field, parameter or status, its name in
//! backquotes too ([`Change::subject`]). The command lists every change and fails only on breaking
//! ones not acknowledged.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

use crate::spec::strip_validation_only;
use crate::walk;

/// Who a change breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Audience {
    Clients,
    Servers,
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Audience::Clients => "clients",
            Audience::Servers => "servers",
        })
    }
}

/// One breaking change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    pub audience: Audience,
    /// The `operationId` it is in.
    pub operation: String,
    /// Where in the operation: `request body data.attributes.apiKey`, `response 200`, ...
    pub location: String,
    pub what: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location.as_str() {
            "" => write!(f, "`{}`: {}", self.operation, self.what),
            location => write!(f, "`{}` {location}: {}", self.operation, self.what),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Request,
    Response,
}

struct Comparison<'a> {
    old: &'a Value,
    new: &'a Value,
    operation: String,
    changes: Vec<Change>,
    /// Changes that break no one, with `Audience::Clients` as a placeholder.
    compatible: Vec<Change>,
}

/// Every change between two versions of a spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// What breaks clients or servers, sorted.
    pub breaking: Vec<Change>,
    /// What breaks no one (an operation, optional field, status or header added; a bound moved
    /// where only the other side sees it), sorted; their `audience` means nothing.
    pub compatible: Vec<Change>,
}

const BOTH: &[Audience] = &[Audience::Clients, Audience::Servers];
const CLIENTS: &[Audience] = &[Audience::Clients];
const SERVERS: &[Audience] = &[Audience::Servers];

/// The breaking changes from `old` to `new`, two OpenAPI documents as JSON.
pub fn compare(old: &Value, new: &Value) -> Vec<Change> {
    changes(old, new).breaking
}

/// Every change from `old` to `new`, breaking or not.
pub fn changes(old: &Value, new: &Value) -> Changes {
    let (mut old, mut new) = (old.clone(), new.clone());
    // A rule for validators is compared as a rule, below; it says nothing about types.
    let old_rules = rules(&old);
    let new_rules = rules(&new);
    strip_validation_only(&mut old);
    strip_validation_only(&mut new);
    let mut changes = Vec::new();
    let mut compatible = Vec::new();
    let old_operations = operations(&old);
    let new_operations = operations(&new);
    for (id, (method, path, _)) in &new_operations {
        if !old_operations.contains_key(id) {
            compatible.push(Change {
                audience: Audience::Clients,
                operation: id.clone(),
                location: String::new(),
                what: format!("a new operation, {method} {path}"),
            });
        }
    }
    for (id, (method, path, old_operation)) in &old_operations {
        let mut comparison = Comparison {
            old: &old,
            new: &new,
            operation: id.clone(),
            changes: Vec::new(),
            compatible: Vec::new(),
        };
        match new_operations.get(id) {
            None => comparison.add(BOTH, "", "the operation was removed".into()),
            Some((new_method, new_path, _)) if (new_method, new_path) != (method, path) => {
                comparison.add(
                    BOTH,
                    "",
                    format!("moved from {method} {path} to {new_method} {new_path}"),
                );
            }
            Some((_, _, new_operation)) => comparison.operation(old_operation, new_operation),
        }
        changes.extend(comparison.changes);
        compatible.extend(comparison.compatible);
    }
    // A rule of a schema that is new itself constrains nothing anyone sent before.
    let old_schemas = old.pointer("/components/schemas").and_then(Value::as_object);
    for (schema, rule) in new_rules.difference(&old_rules) {
        let change = Change {
            audience: Audience::Clients,
            operation: schema.clone(),
            location: "rule".into(),
            what: format!("a new validation rule: {rule}"),
        };
        if old_schemas.is_some_and(|schemas| schemas.contains_key(schema)) {
            changes.push(change);
        } else {
            compatible.push(change);
        }
    }
    changes.sort();
    changes.dedup();
    compatible.sort();
    compatible.dedup();
    Changes { breaking: changes, compatible }
}

/// Every operation by `operationId`: its method, path and operation object, with the path's
/// parameters merged in.
fn operations(spec: &Value) -> BTreeMap<String, (String, String, Value)> {
    let mut found = BTreeMap::new();
    for walked in walk::operations(spec) {
        let Some(id) = walked.id() else {
            continue;
        };
        let mut operation = walked.operation.clone();
        let parameters =
            walked.parameters(spec).into_iter().map(|(_, parameter)| parameter.clone());
        operation["parameters"] = Value::Array(parameters.collect());
        found.insert(
            id.to_owned(),
            (walked.method.to_uppercase(), walked.path.to_owned(), operation),
        );
    }
    found
}

/// The `x-validation-only` rules, by the component they are in and their description.
fn rules(spec: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (name, schema) in
        spec.pointer("/components/schemas").and_then(Value::as_object).into_iter().flatten()
    {
        collect_rules(name, schema, &mut found);
    }
    found
}

fn collect_rules(name: &str, value: &Value, found: &mut BTreeSet<(String, String)>) {
    match value {
        Value::Object(map) => {
            if map.get("x-validation-only") == Some(&Value::Bool(true)) {
                let description = map.get("description").and_then(Value::as_str).unwrap_or("");
                found.insert((
                    name.to_owned(),
                    description.split_whitespace().collect::<Vec<_>>().join(" "),
                ));
            }
            map.values().for_each(|value| collect_rules(name, value, found));
        }
        Value::Array(items) => items.iter().for_each(|value| collect_rules(name, value, found)),
        _ => {}
    }
}

impl Comparison<'_> {
    /// A change that breaks no one.
    fn note(&mut self, location: &str, what: String) {
        self.compatible.push(Change {
            audience: Audience::Clients,
            operation: self.operation.clone(),
            location: location.to_owned(),
            what,
        });
    }

    fn add(&mut self, audiences: &[Audience], location: &str, what: String) {
        for audience in audiences {
            self.changes.push(Change {
                audience: *audience,
                operation: self.operation.clone(),
                location: location.to_owned(),
                what: what.clone(),
            });
        }
    }

    fn operation(&mut self, old: &Value, new: &Value) {
        self.parameters(old, new);
        self.request_body(old, new);
        let old_responses = old.get("responses").and_then(Value::as_object);
        let new_responses = new.get("responses").and_then(Value::as_object);
        for status in new_responses.into_iter().flatten().map(|(status, _)| status) {
            if old_responses.is_none_or(|responses| !responses.contains_key(status)) {
                self.note(&format!("response {status}"), "a newly documented status".into());
            }
        }
        for (status, old_response) in old_responses.into_iter().flatten() {
            let location = format!("response {status}");
            let Some(new_response) = new_responses.and_then(|responses| responses.get(status))
            else {
                self.add(BOTH, &location, "the status is no longer documented".into());
                continue;
            };
            let old_response = resolve(self.old, old_response);
            let new_response = resolve(self.new, new_response);
            for header in old_response
                .get("headers")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(name, _)| name)
            {
                if new_response.pointer(&format!("/headers/{header}")).is_none() {
                    self.add(CLIENTS, &location, format!("the header `{header}` was removed"));
                }
            }
            for header in new_response
                .get("headers")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(name, _)| name)
            {
                if old_response.pointer(&format!("/headers/{header}")).is_none() {
                    self.note(&location, format!("a new header `{header}`"));
                }
            }
            match (json_schema(&old_response), json_schema(&new_response)) {
                (Some(old_schema), Some(new_schema)) => {
                    self.schema(
                        old_schema,
                        new_schema,
                        Direction::Response,
                        &format!("{location} body"),
                        0,
                    );
                }
                (Some(_), None) => self.add(CLIENTS, &location, "the body was removed".into()),
                (None, Some(_)) => self.note(&location, "a new body".into()),
                (None, None) => {}
            }
        }
    }

    fn parameters(&mut self, old: &Value, new: &Value) {
        let list = |spec: &Value, operation: &Value| -> BTreeMap<(String, String), Value> {
            operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|parameter| resolve(spec, parameter))
                .filter_map(|parameter| {
                    let key = (
                        parameter.get("in")?.as_str()?.to_owned(),
                        parameter.get("name")?.as_str()?.to_owned(),
                    );
                    Some((key, parameter))
                })
                .collect()
        };
        let old_parameters = list(self.old, old);
        let new_parameters = list(self.new, new);
        for ((place, name), old_parameter) in &old_parameters {
            let location = format!("{place} parameter `{name}`");
            match new_parameters.get(&(place.clone(), name.clone())) {
                None => self.add(BOTH, &location, "removed".into()),
                Some(new_parameter) => {
                    if is_true(new_parameter.get("required"))
                        && !is_true(old_parameter.get("required"))
                    {
                        self.add(CLIENTS, &location, "became required".into());
                    }
                    if let (Some(old_schema), Some(new_schema)) =
                        (old_parameter.get("schema"), new_parameter.get("schema"))
                    {
                        self.schema(old_schema, new_schema, Direction::Request, &location, 0);
                    }
                }
            }
        }
        for ((place, name), new_parameter) in &new_parameters {
            if old_parameters.contains_key(&(place.clone(), name.clone())) {
                continue;
            }
            let location = format!("{place} parameter `{name}`");
            if is_true(new_parameter.get("required")) {
                self.add(CLIENTS, &location, "a new required parameter".into());
            } else {
                self.note(&location, "a new optional parameter".into());
            }
        }
    }

    fn request_body(&mut self, old: &Value, new: &Value) {
        let old_body = old.get("requestBody").map(|body| resolve(self.old, body));
        let new_body = new.get("requestBody").map(|body| resolve(self.new, body));
        match (old_body, new_body) {
            (Some(_), None) => self.add(BOTH, "request body", "the body was removed".into()),
            (None, Some(body)) if is_true(body.get("required")) => {
                self.add(CLIENTS, "request body", "a new required body".into());
            }
            (None, Some(_)) => self.note("request body", "a new optional body".into()),
            (Some(old_body), Some(new_body)) => {
                if is_true(new_body.get("required")) && !is_true(old_body.get("required")) {
                    self.add(CLIENTS, "request body", "became required".into());
                }
                if let (Some(old_schema), Some(new_schema)) =
                    (json_schema(&old_body), json_schema(&new_body))
                {
                    self.schema(old_schema, new_schema, Direction::Request, "request body", 0);
                }
            }
            _ => {}
        }
    }

    fn schema(
        &mut self,
        old: &Value,
        new: &Value,
        direction: Direction,
        location: &str,
        depth: usize,
    ) {
        // Recursive schemas end somewhere; the specs nest far less than this.
        if depth > 32 {
            return;
        }
        let old = flatten(self.old, old);
        let new = flatten(self.new, new);
        let (narrowing, widening) = match direction {
            Direction::Request => (CLIENTS, SERVERS),
            Direction::Response => (SERVERS, CLIENTS),
        };
        let old_type = old.get("type").and_then(Value::as_str);
        let new_type = new.get("type").and_then(Value::as_str);
        if old_type.is_some() && new_type.is_some() && old_type != new_type {
            let what = format!(
                "the type changed from {} to {}",
                old_type.unwrap_or("?"),
                new_type.unwrap_or("?")
            );
            self.add(BOTH, location, what);
            return;
        }
        if let (Some(old_values), Some(new_values)) = (enum_values(&old), enum_values(&new)) {
            for removed in old_values.difference(&new_values) {
                self.add(narrowing, location, format!("the enum value {removed} was removed"));
            }
            for added in new_values.difference(&old_values) {
                self.add(widening, location, format!("the enum value {added} was added"));
            }
        }
        self.bounds(&old, &new, direction, location);
        let required = |schema: &Value| -> BTreeSet<String> {
            schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        };
        let (old_required, new_required) = (required(&old), required(&new));
        let empty = serde_json::Map::new();
        let old_properties = old.get("properties").and_then(Value::as_object).unwrap_or(&empty);
        let new_properties = new.get("properties").and_then(Value::as_object).unwrap_or(&empty);
        let at = |name: &str| {
            if location.ends_with("body") {
                format!("{location} {name}")
            } else {
                format!("{location}.{name}")
            }
        };
        for (name, old_property) in old_properties {
            let place = at(name);
            let Some(new_property) = new_properties.get(name) else {
                let audiences = if direction == Direction::Request { BOTH } else { CLIENTS };
                self.add(audiences, &place, "the field was removed".into());
                continue;
            };
            let was = old_required.contains(name);
            let is = new_required.contains(name);
            if is && !was {
                self.add(narrowing, &place, "the field became required".into());
            } else if was && !is {
                self.add(widening, &place, "the field became optional".into());
            }
            self.schema(old_property, new_property, direction, &place, depth + 1);
        }
        for name in new_required.difference(&old_required) {
            if !old_properties.contains_key(name) {
                self.add(narrowing, &at(name), "a new required field".into());
            }
        }
        for name in new_properties.keys() {
            if !old_properties.contains_key(name) && !new_required.contains(name) {
                self.note(&at(name), "a new optional field".into());
            }
        }
        if let (Some(old_items), Some(new_items)) = (old.get("items"), new.get("items")) {
            self.schema(old_items, new_items, direction, &format!("{location}[]"), depth + 1);
        }
        for keyword in ["oneOf", "anyOf"] {
            let (Some(old_branches), Some(new_branches)) = (
                old.get(keyword).and_then(Value::as_array),
                new.get(keyword).and_then(Value::as_array),
            ) else {
                continue;
            };
            if new_branches.len() < old_branches.len() {
                self.add(narrowing, location, format!("`{keyword}` has fewer alternatives"));
            } else if new_branches.len() > old_branches.len() {
                self.add(widening, location, format!("`{keyword}` has more alternatives"));
            }
            for (index, (old_branch, new_branch)) in
                old_branches.iter().zip(new_branches).enumerate()
            {
                self.schema(
                    old_branch,
                    new_branch,
                    direction,
                    &format!("{location} ({keyword} {index})"),
                    depth + 1,
                );
            }
        }
    }

    fn bounds(&mut self, old: &Value, new: &Value, direction: Direction, location: &str) {
        let number = |schema: &Value, key: &str| schema.get(key).and_then(Value::as_f64);
        for (key, lower) in [
            ("minLength", true),
            ("maxLength", false),
            ("minimum", true),
            ("maximum", false),
            ("minItems", true),
            ("maxItems", false),
        ] {
            let (before, after) = (number(old, key), number(new, key));
            let tightened = match (before, after) {
                (None, Some(_)) => Some(true),
                (Some(_), None) => Some(false),
                (Some(before), Some(after)) if before != after => Some((after > before) == lower),
                _ => None,
            };
            match (tightened, direction) {
                (Some(true), Direction::Request) => {
                    self.add(CLIENTS, location, format!("`{key}` tightened"));
                }
                (Some(false), Direction::Response) => {
                    self.add(CLIENTS, location, format!("`{key}` loosened"));
                }
                (Some(false), Direction::Request) => {
                    self.note(location, format!("`{key}` loosened"))
                }
                (Some(true), Direction::Response) => {
                    self.note(location, format!("`{key}` tightened"));
                }
                (None, _) => {}
            }
        }
        if direction == Direction::Request
            && new.get("pattern").is_some()
            && old.get("pattern") != new.get("pattern")
        {
            self.add(CLIENTS, location, "the `pattern` changed".into());
        }
    }
}

fn is_true(value: Option<&Value>) -> bool {
    value == Some(&Value::Bool(true))
}

fn enum_values(schema: &Value) -> Option<BTreeSet<String>> {
    schema
        .get("enum")
        .and_then(Value::as_array)
        .map(|values| values.iter().map(Value::to_string).collect())
}

/// What `value`'s `$ref`s lead to; `null` for a broken chain, which lint reports.
fn resolve(spec: &Value, value: &Value) -> Value {
    walk::resolve(spec, value).cloned().unwrap_or(Value::Null)
}

/// A schema with its `$ref` resolved and its `allOf` entries merged into one object.
fn flatten(spec: &Value, schema: &Value) -> Value {
    let mut schema = resolve(spec, schema);
    if let Some(entries) = schema.as_object_mut().and_then(|map| map.remove("allOf")) {
        for entry in entries.as_array().into_iter().flatten() {
            let entry = flatten(spec, entry);
            for (key, value) in entry.as_object().into_iter().flatten() {
                match (schema.get_mut(key), value) {
                    (Some(Value::Object(mine)), Value::Object(theirs)) => {
                        mine.extend(theirs.clone());
                    }
                    (Some(Value::Array(mine)), Value::Array(theirs)) => mine.extend(theirs.clone()),
                    (None, _) => {
                        schema[key] = value.clone();
                    }
                    _ => {}
                }
            }
        }
    }
    schema
}

/// The JSON schema of a request body or response, if it has one.
fn json_schema(body: &Value) -> Option<&Value> {
    body.pointer("/content/application~1json/schema")
}

impl Change {
    /// The field, parameter or status the change is about, as an acknowledgement names it: the last
    /// name of a body field (`user_id` for `response 200 body data.user_id`), a parameter's name, or
    /// a status; `None` for a change of the whole operation.
    pub fn subject(&self) -> Option<String> {
        let location = self.location.as_str();
        if let Some((_, rest)) = location.split_once("parameter `") {
            return rest.split('`').next().map(str::to_owned);
        }
        if let Some((_, fields)) = location.split_once("body ") {
            let field = fields.split(" (").next().unwrap_or(fields);
            let last = field.rsplit('.').next().unwrap_or(field).trim_end_matches("[]");
            return (!last.is_empty()).then(|| last.to_owned());
        }
        location
            .strip_prefix("response ")
            .map(|status| status.split(' ').next().unwrap_or(status).to_owned())
    }
}

/// Whether a line added to the changelog acknowledges `change`: it says `Breaking`, and names in
/// backquotes the operation and, for a change of one field, parameter or status, that too. A line
/// about one field of an operation acknowledges nothing else of it.
pub fn acknowledged(change: &Change, added_lines: &[&str]) -> bool {
    let operation = format!("`{}`", change.operation);
    let subject = change.subject().map(|subject| format!("`{subject}`"));
    added_lines.iter().any(|line| {
        line.contains("Breaking")
            && line.contains(&operation)
            && subject.as_ref().is_none_or(|subject| line.contains(subject))
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;
    use crate::spec::SpecDocument;

    fn storm() -> Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join("spec/storm.yaml");
        SpecDocument::load(&path).unwrap().value
    }

    fn aioz() -> Value {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join("spec/aioz-stream.yaml");
        SpecDocument::load(&path).unwrap().value
    }

    #[test]
    fn an_unchanged_spec_breaks_nothing() {
        assert_eq!(compare(&storm(), &storm()), []);
        assert_eq!(compare(&aioz(), &aioz()), []);
    }

    #[test]
    fn removing_a_response_field_breaks_clients() {
        let old = aioz();
        let mut new = old.clone();
        new["components"]["schemas"]["LiveStreamKey"]["properties"]
            .as_object_mut()
            .unwrap()
            .remove("rtmp_url");
        let changes = compare(&old, &new);
        assert!(!changes.is_empty());
        assert!(changes.iter().all(|change| change.audience == Audience::Clients), "{changes:#?}");
        assert!(
            changes.iter().any(|change| change.operation == "get_live_stream_key"
                && change.location == "response 200 body data.rtmp_url"
                && change.what == "the field was removed"),
            "{changes:#?}"
        );
    }

    #[test]
    fn removing_a_request_field_breaks_clients_and_servers() {
        let old = storm();
        let mut new = old.clone();
        new["components"]["schemas"]["IngestSettingsAttributes"]["properties"]
            .as_object_mut()
            .unwrap()
            .remove("apiKey");
        let changes = compare(&old, &new);
        let found = |audience| {
            changes.iter().any(|change: &Change| {
                change.audience == audience
                    && change.operation == "update_ingest_settings"
                    && change.location == "request body data.attributes.apiKey"
            })
        };
        assert!(found(Audience::Clients) && found(Audience::Servers), "{changes:#?}");
    }

    #[test]
    fn adding_an_optional_field_or_an_operation_breaks_nothing() {
        let old = aioz();
        let mut new = old.clone();
        new["components"]["schemas"]["LiveStreamKey"]["properties"]["thumbnail"] =
            json!({"type": "string"});
        new["components"]["schemas"]["CreateLiveStreamKeyRequest"]["properties"]["note"] =
            json!({"type": "string"});
        new["paths"]["/live_streams/{id}/reset"] = json!({"post": {"operationId": "reset_live_stream_key",
            "responses": {"200": {"description": "done"}}}});
        assert_eq!(compare(&old, &new), []);
        // They are listed all the same, as changes that break no one.
        let listed: Vec<String> =
            changes(&old, &new).compatible.iter().map(ToString::to_string).collect();
        assert!(
            listed.contains(
                &"`reset_live_stream_key`: a new operation, POST /live_streams/{id}/reset"
                    .to_owned()
            ),
            "{listed:#?}"
        );
        assert!(
            listed.contains(
                &"`create_live_stream_key` request body note: a new optional field".to_owned()
            ),
            "{listed:#?}"
        );
        assert!(
            listed.iter().any(|line| line.starts_with(
                "`get_live_stream_key` response 200 body data.thumbnail: a new optional field"
            )),
            "{listed:#?}"
        );
    }

    #[test]
    fn required_fields_enums_types_and_statuses() {
        let old = aioz();
        let mut new = old.clone();
        let schemas = &mut new["components"]["schemas"];
        schemas["CreateLiveStreamKeyRequest"]["required"] = json!(["name", "save"]);
        schemas["LiveStreamType"]["enum"] = json!(["video"]);
        schemas["LiveStreamKeyList"]["properties"]["total"]["type"] = json!("string");
        new["paths"]["/live_streams"]["post"]["responses"].as_object_mut().unwrap().remove("429");
        let changes = compare(&old, &new);
        let has = |audience: Audience, operation: &str, what: &str| {
            changes.iter().any(|c| {
                c.audience == audience && c.operation == operation && c.what.contains(what)
            })
        };
        assert!(
            has(Audience::Clients, "create_live_stream_key", "the field became required"),
            "{changes:#?}"
        );
        assert!(
            has(
                Audience::Clients,
                "create_live_stream_key",
                "the enum value \"audio\" was removed"
            ),
            "{changes:#?}"
        );
        assert!(
            has(Audience::Servers, "get_live_stream_key", "the enum value \"audio\" was removed"),
            "{changes:#?}"
        );
        assert!(
            has(
                Audience::Clients,
                "list_live_stream_keys",
                "the type changed from integer to string"
            ),
            "{changes:#?}"
        );
        assert!(
            has(Audience::Servers, "create_live_stream_key", "the status is no longer documented"),
            "{changes:#?}"
        );
    }

    #[test]
    fn removed_operations_and_new_rules_are_breaking() {
        let old = storm();
        let mut new = old.clone();
        new["paths"].as_object_mut().unwrap().remove("/api/streams/{appName}");
        let changes = compare(&old, &new);
        assert!(
            changes
                .iter()
                .any(|c| c.operation == "create_stream" && c.what == "the operation was removed")
        );

        let old = json!({"components": {"schemas": {"A": {"type": "object"}}}});
        let new = json!({"components": {"schemas": {"A": {"type": "object", "allOf": [
            {"x-validation-only": true, "description": "`b` is required when `a` is set", "anyOf": []}]}}}});
        let changes = compare(&old, &new);
        assert_eq!(changes.len(), 1);
        assert_eq!(
            changes[0].to_string(),
            "`A` rule: a new validation rule: `b` is required when `a` is set"
        );

        // A new schema's rules constrain nothing anyone sent before.
        let old = json!({"components": {"schemas": {}}});
        let found = super::changes(&old, &new);
        assert_eq!(found.breaking, []);
        assert_eq!(found.compatible.len(), 1, "{:?}", found.compatible);
    }

    #[test]
    fn a_changelog_line_acknowledges_its_operation() {
        let change = Change {
            audience: Audience::Clients,
            operation: "get_live_stream_key".into(),
            location: "response 200 body data.rtmp_url".into(),
            what: "the field was removed".into(),
        };
        assert!(acknowledged(
            &change,
            &["- **Breaking** (`get_live_stream_key`): `rtmp_url` is gone."]
        ));
        assert!(!acknowledged(&change, &["- (`get_live_stream_key`): `rtmp_url` is gone."]));
        assert!(!acknowledged(&change, &["- **Breaking** (`list_live_stream_keys`): ..."]));
    }

    /// An acknowledgement names the change, not only its operation: one for the removal of
    /// `user_id` does not cover the removal of `save` from the same operation.
    #[test]
    fn a_changelog_line_acknowledges_only_the_field_it_names() {
        let removed = |location: &str| Change {
            audience: Audience::Clients,
            operation: "update_live_stream_key".into(),
            location: location.into(),
            what: "the field was removed".into(),
        };
        let line = ["- **Breaking** (`update_live_stream_key`): `user_id` is no longer answered."];
        assert!(acknowledged(&removed("response 200 body data.user_id"), &line));
        assert!(!acknowledged(&removed("request body save"), &line));
        let parameter = Change { location: "query parameter `limit`".into(), ..removed("") };
        assert_eq!(parameter.subject().as_deref(), Some("limit"));
        let status = Change { location: "response 429".into(), ..removed("") };
        assert_eq!(status.subject().as_deref(), Some("429"));
        assert_eq!(removed("").subject(), None);
        assert!(
            acknowledged(&removed(""), &line),
            "a change of the whole operation needs only its name"
        );
    }
}
