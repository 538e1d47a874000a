//! What the server generator reads from a spec, and what it refuses, on openapiv3's typed model. Lint
//! reports every refusal at its place in the spec, and the generator reads parameters, security
//! schemes and headers through the same functions, so the two cannot disagree: a spec that lints
//! clean generates, and a shape the generator does not know never becomes a silent gap in a server.

use openapiv3::{
    OpenAPI, Parameter, ParameterSchemaOrContent, ReferenceOr, SchemaKind, SecurityScheme, Type,
    VariantOrUnknownOrEmpty,
};

use crate::spec::escape_token;
use crate::walk::{self, TypedOperation};

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
    /// An inline `format: date-time` string (RFC 3339).
    DateTime,
    /// An inline `format: password` string: a credential, decoded as `streamspec_types::Secret` so
    /// that no `Debug` shows it.
    Secret,
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
pub fn scheme_kind(name: &str, scheme: &SecurityScheme) -> Result<SchemeKind, String> {
    match scheme {
        SecurityScheme::HTTP { scheme, .. } if scheme.eq_ignore_ascii_case("bearer") => {
            Ok(SchemeKind::Bearer)
        }
        SecurityScheme::HTTP { scheme, .. } if scheme.eq_ignore_ascii_case("basic") => {
            Ok(SchemeKind::Basic)
        }
        SecurityScheme::APIKey { location: openapiv3::APIKeyLocation::Header, name, .. } => {
            Ok(SchemeKind::ApiKey(name.clone()))
        }
        _ => Err(format!(
            "security scheme `{name}` is not supported by the server generator (HTTP bearer, HTTP basic, or an API key in a header)"
        )),
    }
}

/// Every response of an operation with its status as the spec writes it (`200`, `2XX`, `default`)
/// and its pointer, in the document's order; `default` last, as openapiv3 keeps it apart.
pub fn responses<'a>(
    operation: &TypedOperation<'a>,
) -> Vec<(String, String, &'a ReferenceOr<openapiv3::Response>)> {
    let responses = &operation.operation.responses;
    let mut found: Vec<(String, String, &'a ReferenceOr<openapiv3::Response>)> = responses
        .responses
        .iter()
        .map(|(status, response)| (status.to_string(), response))
        .chain(responses.default.iter().map(|response| ("default".to_owned(), response)))
        .map(|(status, response)| {
            let pointer = format!("{}/responses/{}", operation.pointer, escape_token(&status));
            (status, pointer, response)
        })
        .collect();
    // openapiv3 reads `default` into its own field; the document's order has it where it was
    // written, which for every spec here is last.
    found.sort_by_key(|(status, _, _)| status == "default");
    found
}

/// The one set of response headers every response of the API documents (none, or the same names in
/// any order), in the order the first response lists them; or, for a response that documents another
/// set, its pointer and why that is refused: each generated response carries the same headers.
pub fn response_headers(document: &OpenAPI) -> Result<Vec<String>, (String, String)> {
    let sorted = |names: &[String]| {
        let mut names = names.to_vec();
        names.sort();
        names
    };
    let mut first: Option<(Vec<String>, String)> = None;
    for operation in walk::typed_operations(document) {
        for (_, pointer, response) in responses(&operation) {
            let headers: Vec<String> = walk::resolve_typed(document, response)
                .map(|response| response.headers.keys().cloned().collect())
                .unwrap_or_default();
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
pub fn parameter_shape(
    document: &OpenAPI,
    parameter: &Parameter,
) -> Result<ParameterShape, String> {
    let data = parameter.parameter_data_ref();
    let name = &data.name;
    let location = match parameter {
        Parameter::Path { .. } | Parameter::Query { .. } => None,
        Parameter::Header { .. } => Some("header"),
        Parameter::Cookie { .. } => Some("cookie"),
    };
    if let Some(other) = location {
        return Err(format!(
            "parameter `{name}`: `in: {other}` is not supported by the server generator (only `path` and `query`)"
        ));
    }
    let ParameterSchemaOrContent::Schema(schema) = &data.format else {
        return Err(format!("parameter `{name}` has no `schema`"));
    };
    let resolved = walk::resolve_typed(document, schema).map_err(|error| error.to_string())?;
    let named = match schema {
        ReferenceOr::Reference { reference } => walk::component_schema(reference),
        ReferenceOr::Item(_) => None,
    };
    let refused = || {
        format!(
            "parameter `{name}`: its schema is not supported by the server generator (an integer, a boolean, a string, a `format: uuid`, `format: date-time` or `format: password` string, or a `$ref` to a string schema)"
        )
    };
    let SchemaKind::Type(kind) = &resolved.schema_kind else { return Err(refused()) };
    let shape = match (kind, named) {
        (Type::Integer(integer), _) => {
            // The format's range applies where the spec gives no tighter bound.
            let (floor, ceiling) = match &integer.format {
                VariantOrUnknownOrEmpty::Item(openapiv3::IntegerFormat::Int32) => {
                    (Some(i64::from(i32::MIN)), Some(i64::from(i32::MAX)))
                }
                _ => (None, None),
            };
            ParameterShape::Integer {
                min: integer.minimum.or(floor),
                max: integer.maximum.or(ceiling),
            }
        }
        (Type::Boolean(_), _) => ParameterShape::Boolean,
        (Type::String(string), None)
            if string.format == VariantOrUnknownOrEmpty::Unknown("uuid".to_owned()) =>
        {
            ParameterShape::Uuid
        }
        (Type::String(string), Some(name)) => {
            let values: Vec<String> =
                string.enumeration.iter().flatten().map(|value| format!("`{value}`")).collect();
            let expected = match (values.is_empty(), &string.pattern) {
                (false, _) => format!("one of {}", values.join(", ")),
                (true, Some(pattern)) => format!("a value matching `{pattern}`"),
                (true, None) => "valid".to_owned(),
            };
            ParameterShape::Named { name, expected }
        }
        (Type::String(string), None)
            if string.format
                == VariantOrUnknownOrEmpty::Item(openapiv3::StringFormat::DateTime) =>
        {
            ParameterShape::DateTime
        }
        (Type::String(string), None)
            if string.format
                == VariantOrUnknownOrEmpty::Item(openapiv3::StringFormat::Password) =>
        {
            ParameterShape::Secret
        }
        (Type::String(string), None) if string.format == VariantOrUnknownOrEmpty::Empty => {
            ParameterShape::Text
        }
        _ => return Err(refused()),
    };
    Ok(shape)
}

/// Everything in `document` the server generator does not support, each with the JSON pointer of
/// where it is written and what to do instead.
pub fn unsupported(document: &OpenAPI) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let schemes = document.components.iter().flat_map(|components| &components.security_schemes);
    for (name, scheme) in schemes {
        let pointer = format!("/components/securitySchemes/{}", escape_token(name));
        match walk::resolve_typed(document, scheme) {
            Ok(scheme) => {
                if let Err(message) = scheme_kind(name, scheme) {
                    found.push((pointer, message));
                }
            }
            Err(error) => found.push((pointer, error.to_string())),
        }
    }
    for (path, item) in document.paths.iter() {
        if item.as_item().is_none() {
            let pointer = format!("/paths/{}", escape_token(path));
            found.push((
                pointer,
                "a path item `$ref` is not supported by the server generator: write the path's operations in place".to_owned(),
            ));
        }
    }
    for operation in walk::typed_operations(document) {
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
        for (status, pointer, response) in responses(&operation) {
            if status.parse::<u16>().is_err() {
                found.push((pointer.clone(), format!("status `{status}` is not supported by the server generator: give each response its numeric status")));
            }
            if let Ok(response) = walk::resolve_typed(document, response) {
                contents(&response.content, &pointer, "a response", &mut found);
            }
        }
    }
    if let Err(different) = response_headers(document) {
        found.push(different);
    }
    found
}

/// A request body must be JSON, with a schema.
fn body(document: &OpenAPI, operation: &TypedOperation<'_>, found: &mut Vec<(String, String)>) {
    let Some(body) = &operation.operation.request_body else {
        return;
    };
    let pointer = format!("{}/requestBody", operation.pointer);
    let Ok(body) = walk::resolve_typed(document, body) else {
        return;
    };
    contents(&body.content, &pointer, "a request body", found);
    // Another media type alone is reported by `contents`; no media type, or JSON without a schema,
    // here.
    if body.content.is_empty() || body.content.get(JSON).is_some_and(|json| json.schema.is_none()) {
        found.push((
            format!("{pointer}/content"),
            format!("a request body needs an `{JSON}` schema"),
        ));
    }
}

/// The component schema a JSON body's schema names (`#/components/schemas/Name` gives `Name`), if
/// it is a `$ref` to one.
pub fn json_schema_name(content: &openapiv3::Content) -> Option<String> {
    match content.get(JSON)?.schema.as_ref()? {
        ReferenceOr::Reference { reference } => walk::component_schema(reference),
        ReferenceOr::Item(_) => None,
    }
}

/// Every media type of a request body or response must be JSON, and a JSON schema a `$ref` to a
/// component schema, which names its generated type.
fn contents(
    content: &openapiv3::Content,
    pointer: &str,
    what: &str,
    found: &mut Vec<(String, String)>,
) {
    for media in content.keys() {
        if media != JSON {
            found.push((
                format!("{pointer}/content/{}", escape_token(media)),
                format!(
                    "`{media}` bodies are not supported by the server generator (only `{JSON}`)"
                ),
            ));
        }
    }
    let Some(schema) = content.get(JSON).and_then(|json| json.schema.as_ref()) else {
        return;
    };
    // A `$ref` outside the document is lint's finding already.
    let named = match schema {
        ReferenceOr::Reference { reference } => {
            walk::pointer_of(reference).is_none() || walk::component_schema(reference).is_some()
        }
        ReferenceOr::Item(_) => false,
    };
    if !named {
        found.push((
            format!("{pointer}/content/application~1json/schema"),
            format!("{what}'s schema must be a `$ref` to a component schema, which names its generated type"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// `parts` as an OpenAPI document: the version, `info` and `paths` it lacks are added.
    fn typed(mut parts: Value) -> OpenAPI {
        parts["openapi"] = json!("3.0.3");
        parts["info"] = json!({"title": "t", "version": "1"});
        if parts.get("paths").is_none() {
            parts["paths"] = json!({});
        }
        serde_json::from_value(parts).unwrap()
    }

    #[test]
    fn what_the_generator_cannot_serve_is_found_where_it_is_written() {
        let document = json!({
            "components": {
                "securitySchemes": {"oauth": {"type": "oauth2", "flows": {}}},
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
        let document = typed(document);
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
        let kind: Parameter = serde_json::from_value(
            json!({"name": "kind", "in": "query", "schema": {"$ref": "#/components/schemas/Kind"}}),
        )
        .unwrap();
        assert_eq!(
            parameter_shape(&document, &kind),
            Ok(ParameterShape::Named { name: "Kind".into(), expected: "one of `a`, `b`".into() })
        );
    }

    /// Every response carries the same headers, in any order; lint and the generator read this from
    /// one function, so they agree.
    #[test]
    fn every_response_documents_one_set_of_headers() {
        let header = json!({"schema": {"type": "integer"}});
        let with = |names: &[&str]| {
            let headers: serde_json::Map<String, Value> =
                names.iter().map(|name| ((*name).to_owned(), header.clone())).collect();
            json!({"description": "d", "headers": headers})
        };
        let spec = |second: Value| {
            typed(json!({"paths": {
                "/a": {"get": {"responses": {"200": with(&["x-b", "x-a"])}}},
                "/b": {"get": {"responses": {"200": second}}},
            }}))
        };
        assert_eq!(
            response_headers(&spec(with(&["x-a", "x-b"]))),
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
        let inline = json!({"description": "d", "content": {"application/json": {"schema": {"type": "object"}}}});
        let document = typed(json!({"paths": {"/a": {"post": {
            "requestBody": inline,
            "responses": {"200": inline},
        }}}}));
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
