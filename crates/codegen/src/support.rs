//! What the server generator reads from a spec, and what it refuses. Lint reports every refusal at
//! its place in the spec, and the generator reads parameters through [`parameter_shape`], so the two
//! cannot disagree: a spec that lints clean generates, and a shape the generator does not know never
//! becomes a silent gap in a server.

use serde_json::Value;

use crate::walk::{self, OperationRef};

/// The methods a generated server routes.
pub const SERVED_METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// The only media type of request and response bodies.
pub const JSON: &str = "application/json";

/// A parameter's value, as the generated server decodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParameterShape {
    /// An integer, within the bounds the spec (or its `int32` format) gives.
    Integer { min: Option<i64>, max: Option<i64> },
    /// `true` or `false`.
    Boolean,
    /// An inline `format: uuid` string.
    Uuid,
    /// A string schema named by `$ref` (an enum, or a pattern), decoded as its generated type;
    /// `expected` is what the 400 says a value must be.
    Named { name: String, expected: String },
    /// Any other string.
    Text,
}

/// A security scheme, as the generated server reads credentials for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemeKind {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `Authorization: Basic <user:password>`.
    Basic,
    /// An API key in the named header.
    ApiKey(String),
}

/// How the generated server reads the security scheme `name`, or why it cannot.
pub fn scheme_kind(name: &str, scheme: &Value) -> Result<SchemeKind, String> {
    match (
        scheme.get("type").and_then(Value::as_str),
        scheme.get("scheme").and_then(Value::as_str),
        scheme.get("in").and_then(Value::as_str),
        scheme.get("name").and_then(Value::as_str),
    ) {
        (Some("http"), Some(http), _, _) if http.eq_ignore_ascii_case("bearer") => {
            Ok(SchemeKind::Bearer)
        }
        (Some("http"), Some(http), _, _) if http.eq_ignore_ascii_case("basic") => {
            Ok(SchemeKind::Basic)
        }
        (Some("apiKey"), _, Some("header"), Some(header)) => {
            Ok(SchemeKind::ApiKey(header.to_owned()))
        }
        _ => Err(format!(
            "security scheme `{name}` is not supported by the server generator (HTTP bearer, HTTP basic, or an API key in a header)"
        )),
    }
}

/// The one set of response headers every response of the API documents (none, or the same names in
/// any order), in the order the first response lists them; or, for a response that documents another
/// set, its pointer and why that is refused: each generated response carries the same headers.
pub fn response_headers(document: &Value) -> Result<Vec<String>, (String, String)> {
    let sorted = |names: &[String]| {
        let mut names = names.to_vec();
        names.sort();
        names
    };
    let mut first: Option<(Vec<String>, String)> = None;
    for operation in walk::operations(document) {
        for (status, response) in
            operation.operation.get("responses").and_then(Value::as_object).into_iter().flatten()
        {
            let response = walk::resolve(document, response).unwrap_or(response);
            let headers: Vec<String> = response
                .get("headers")
                .and_then(Value::as_object)
                .map(|headers| headers.keys().cloned().collect())
                .unwrap_or_default();
            let pointer =
                format!("{}/responses/{}", operation.pointer, crate::spec::escape_token(status));
            match &first {
                None => first = Some((headers, pointer)),
                Some((set, at)) if sorted(set) != sorted(&headers) => {
                    return Err((
                        pointer,
                        format!(
                            "responses document different sets of headers (first at {at}); the server generator supports one set per API"
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(first.map(|(set, _)| set).unwrap_or_default())
}

/// How the generated server decodes a (resolved) parameter, or why it cannot.
pub fn parameter_shape(document: &Value, parameter: &Value) -> Result<ParameterShape, String> {
    let name = parameter.get("name").and_then(Value::as_str).unwrap_or_default();
    match parameter.get("in").and_then(Value::as_str) {
        Some("path" | "query") => {}
        Some(other) => {
            return Err(format!(
                "parameter `{name}`: `in: {other}` is not supported by the server generator (only `path` and `query`)"
            ));
        }
        None => return Err(format!("parameter `{name}` has no `in`")),
    }
    let Some(schema) = parameter.get("schema") else {
        return Err(format!("parameter `{name}` has no `schema`"));
    };
    let resolved = walk::resolve(document, schema).map_err(|error| error.to_string())?;
    let named = schema.get("$ref").and_then(Value::as_str).and_then(walk::component_schema);
    let shape = match (
        resolved.get("type").and_then(Value::as_str),
        resolved.get("format").and_then(Value::as_str),
        named,
    ) {
        (Some("integer"), format, _) => {
            // The format's range applies where the spec gives no tighter bound.
            let (floor, ceiling) = match format {
                Some("int32") => (Some(i64::from(i32::MIN)), Some(i64::from(i32::MAX))),
                _ => (None, None),
            };
            ParameterShape::Integer {
                min: resolved.get("minimum").and_then(Value::as_i64).or(floor),
                max: resolved.get("maximum").and_then(Value::as_i64).or(ceiling),
            }
        }
        (Some("boolean"), _, _) => ParameterShape::Boolean,
        (Some("string"), Some("uuid"), None) => ParameterShape::Uuid,
        (Some("string"), _, Some(name)) => {
            let expected = match (
                resolved.get("enum").and_then(Value::as_array),
                resolved.get("pattern").and_then(Value::as_str),
            ) {
                (Some(values), _) => {
                    let values: Vec<String> =
                        values.iter().filter_map(Value::as_str).map(|v| format!("`{v}`")).collect();
                    format!("one of {}", values.join(", "))
                }
                (None, Some(pattern)) => format!("a value matching `{pattern}`"),
                (None, None) => "valid".to_owned(),
            };
            ParameterShape::Named { name, expected }
        }
        (Some("string"), None, None) => ParameterShape::Text,
        _ => {
            return Err(format!(
                "parameter `{name}`: its schema is not supported by the server generator (an integer, a boolean, a string, a `format: uuid` string, or a `$ref` to a string schema)"
            ));
        }
    };
    Ok(shape)
}

/// Everything in `document` the server generator does not support, each with the JSON pointer of
/// where it is written and what to do instead.
pub fn unsupported(document: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (name, scheme) in document
        .pointer("/components/securitySchemes")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Err(message) = scheme_kind(name, scheme) {
            let pointer =
                format!("/components/securitySchemes/{}", crate::spec::escape_token(name));
            found.push((pointer, message));
        }
    }
    for operation in walk::operations(document) {
        if !SERVED_METHODS.contains(&operation.method) {
            found.push((
                operation.pointer.clone(),
                format!(
                    "`{}` operations are not supported by the server generator (only {})",
                    operation.method.to_uppercase(),
                    SERVED_METHODS.map(str::to_uppercase).join(", ")
                ),
            ));
            continue;
        }
        for (pointer, parameter) in operation.parameters(document) {
            if let Err(message) = parameter_shape(document, parameter) {
                found.push((pointer, message));
            }
        }
        body(document, &operation, &mut found);
        for (status, response) in
            operation.operation.get("responses").and_then(Value::as_object).into_iter().flatten()
        {
            let pointer =
                format!("{}/responses/{}", operation.pointer, crate::spec::escape_token(status));
            if status.parse::<u16>().is_err() {
                found.push((pointer.clone(), format!("status `{status}` is not supported by the server generator: give each response its numeric status")));
            }
            let response = walk::resolve(document, response).unwrap_or(response);
            contents(response, &pointer, "a response", &mut found);
        }
    }
    if let Err(different) = response_headers(document) {
        found.push(different);
    }
    found
}

/// A request body must be JSON, with a schema.
fn body(document: &Value, operation: &OperationRef<'_>, found: &mut Vec<(String, String)>) {
    let Some(body) = operation.operation.get("requestBody") else {
        return;
    };
    let pointer = format!("{}/requestBody", operation.pointer);
    let body = walk::resolve(document, body).unwrap_or(body);
    contents(body, &pointer, "a request body", found);
    // Another media type alone is reported by `contents`; no media type, or JSON without a schema,
    // here.
    let unread = |content: &serde_json::Map<String, Value>| {
        content.is_empty() || content.get(JSON).is_some_and(|json| json.get("schema").is_none())
    };
    if body.get("content").and_then(Value::as_object).is_none_or(unread) {
        found.push((
            format!("{pointer}/content"),
            format!("a request body needs an `{JSON}` schema"),
        ));
    }
}

/// Every media type of a request body or response must be JSON, and a JSON schema a `$ref` to a
/// component schema, which names its generated type.
fn contents(holder: &Value, pointer: &str, what: &str, found: &mut Vec<(String, String)>) {
    for (media, _) in holder.get("content").and_then(Value::as_object).into_iter().flatten() {
        if media != JSON {
            found.push((
                format!("{pointer}/content/{}", crate::spec::escape_token(media)),
                format!(
                    "`{media}` bodies are not supported by the server generator (only `{JSON}`)"
                ),
            ));
        }
    }
    // A `$ref` outside the document is lint's finding already.
    let named = |reference: &str| {
        walk::pointer_of(reference).is_none() || walk::component_schema(reference).is_some()
    };
    if let Some(schema) = holder.pointer("/content/application~1json/schema")
        && !schema.get("$ref").and_then(Value::as_str).is_some_and(named)
    {
        found.push((
            format!("{pointer}/content/application~1json/schema"),
            format!("{what}'s schema must be a `$ref` to a component schema, which names its generated type"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn what_the_generator_cannot_serve_is_found_where_it_is_written() {
        let document = json!({
            "components": {
                "securitySchemes": {"oauth": {"type": "oauth2"}},
                "schemas": {"Body": {"type": "object"}, "Kind": {"type": "string", "enum": ["a", "b"]}},
            },
            "paths": {"/a": {
                "head": {"operationId": "peek", "responses": {"200": {"description": "ok"}}},
                "post": {
                    "operationId": "send",
                    "parameters": [
                        {"name": "x-trace", "in": "header", "schema": {"type": "string"}},
                        {"name": "kind", "in": "query", "schema": {"$ref": "#/components/schemas/Kind"}},
                        {"name": "tags", "in": "query", "schema": {"type": "array"}},
                    ],
                    "requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object"}}}},
                    "responses": {"default": {"description": "any"}},
                },
            }},
        });
        let found = unsupported(&document);
        let pointers: Vec<&str> = found.iter().map(|(pointer, _)| pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/components/securitySchemes/oauth",
                "/paths/~1a/post/parameters/0",
                "/paths/~1a/post/parameters/2",
                "/paths/~1a/post/requestBody/content/multipart~1form-data",
                "/paths/~1a/post/responses/default",
                "/paths/~1a/head",
            ]
        );
        assert!(found[1].1.contains("`in: header` is not supported"), "{found:?}");
        assert!(found[3].1.contains("`multipart/form-data` bodies are not supported"), "{found:?}");
        assert!(found[5].1.starts_with("`HEAD` operations are not supported"), "{found:?}");
        let kind =
            json!({"name": "kind", "in": "query", "schema": {"$ref": "#/components/schemas/Kind"}});
        assert_eq!(
            parameter_shape(&document, &kind),
            Ok(ParameterShape::Named { name: "Kind".into(), expected: "one of `a`, `b`".into() })
        );
    }

    /// Every response carries the same headers, in any order; lint and the generator read this from
    /// one function, so they agree.
    #[test]
    fn every_response_documents_one_set_of_headers() {
        let with = |headers: Value| json!({"description": "d", "headers": headers});
        let spec = |second: Value| {
            json!({"paths": {
                "/a": {"get": {"responses": {"200": with(json!({"x-b": {}, "x-a": {}}))}}},
                "/b": {"get": {"responses": {"200": second}}},
            }})
        };
        assert_eq!(
            response_headers(&spec(with(json!({"x-a": {}, "x-b": {}})))),
            Ok(vec!["x-b".to_owned(), "x-a".to_owned()])
        );
        let none = spec(json!({"description": "no headers"}));
        let (pointer, message) = response_headers(&none).unwrap_err();
        assert_eq!(pointer, "/paths/~1b/get/responses/200");
        assert!(message.starts_with("responses document different sets of headers (first at /paths/~1a/get/responses/200)"), "{message}");
        assert_eq!(unsupported(&none), [(pointer, message)]);
    }

    /// A JSON body or response is decoded as the type its component schema names, so an inline
    /// schema is refused where it is written, as the generator refuses it.
    #[test]
    fn json_schemas_name_a_component() {
        let inline = json!({"content": {"application/json": {"schema": {"type": "object"}}}});
        let document = json!({"paths": {"/a": {"post": {
            "requestBody": inline,
            "responses": {"200": inline},
        }}}});
        let found = unsupported(&document);
        let pointers: Vec<&str> = found.iter().map(|(pointer, _)| pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/paths/~1a/post/requestBody/content/application~1json/schema",
                "/paths/~1a/post/responses/200/content/application~1json/schema",
            ]
        );
        assert!(
            found[1].1.starts_with("a response's schema must be a `$ref` to a component schema"),
            "{found:?}"
        );
    }
}
