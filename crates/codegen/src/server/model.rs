//! What the server generator reads from a spec: one [`ApiModel`] per spec, plain data read from
//! openapiv3's typed model through [`crate::walk`] and [`crate::support`], with no code in it. The
//! writer ([`super::write`]) turns it into Rust.

use anyhow::{Context, Result, bail};
use openapiv3::{OpenAPI, Parameter as SpecParameter, SecurityRequirement};

use crate::support::{self, ParameterShape, SchemeKind};
use crate::walk::{self, TypedOperation};

/// Everything the server of one API is made from.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiModel {
    /// The global security requirements, each one way to authenticate, in the spec's order.
    pub credentials: Vec<CredentialVariant>,
    /// The one set of headers every response carries ([`support::response_headers`]).
    pub response_headers: Vec<String>,
    /// Every operation, in the walk's order.
    pub operations: Vec<Operation>,
}

/// One security requirement: the schemes a caller presents together.
#[derive(Debug, Clone, PartialEq)]
pub struct CredentialVariant {
    /// Its variant name: the schemes' names in Pascal case, joined by `And`.
    pub variant: String,
    /// The schemes, each with its name in the spec.
    pub schemes: Vec<(String, SchemeKind)>,
}

/// One operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// The `operationId`.
    pub id: String,
    /// The method, lower case.
    pub method: String,
    /// The path as served: the server URL's path, then the spec's path.
    pub route: String,
    pub summary: String,
    pub description: String,
    pub parameters: Vec<Parameter>,
    /// The component schema the JSON body is, if there is a body.
    pub body: Option<String>,
    /// Whether a caller must present credentials.
    pub secured: bool,
    pub responses: Vec<Response>,
}

impl Operation {
    /// `GET /api/live_streams`, as docs show it.
    pub fn http(&self) -> String {
        format!("{} {}", self.method.to_uppercase(), self.route)
    }
}

/// Where a parameter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Path,
    Query,
}

/// One path or query parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub name: String,
    pub description: String,
    pub location: Location,
    /// Path parameters always are.
    pub required: bool,
    pub shape: ParameterShape,
    /// The schema's `default`, which the adapter applies.
    pub default: Option<serde_json::Value>,
    /// An integer's Rust type: the one the client's builder takes for this parameter, so that client
    /// and server have one type per parameter. Set by [`super::generate`].
    pub integer_type: Option<String>,
}

/// One documented response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub description: String,
    /// The component schema of its JSON body, if it has one.
    pub body: Option<String>,
    /// Whether it documents headers (the API's one set, when it does).
    pub has_headers: bool,
}

/// Reads `document` (a spec without its validation-only rules). A spec with anything
/// [`support::unsupported`] lists is refused with all of it.
pub fn read(document: &OpenAPI) -> Result<ApiModel> {
    let refused = support::unsupported(document);
    if !refused.is_empty() {
        let listed: Vec<String> =
            refused.iter().map(|(pointer, message)| format!("{pointer}: {message}")).collect();
        bail!("the server generator does not support:\n{}", listed.join("\n"));
    }
    let base_path =
        walk::base_path_of(document.servers.first().map_or("", |server| server.url.as_str()));
    let global = document.security.as_deref().unwrap_or_default();
    let operations = walk::typed_operations(document)
        .iter()
        .map(|operation| read_operation(document, operation, &base_path, global))
        .collect::<Result<Vec<_>>>()?;
    let response_headers = support::response_headers(document)
        .map_err(|(pointer, message)| anyhow::anyhow!("{pointer}: {message}"))?;
    Ok(ApiModel { credentials: credentials(document, global)?, response_headers, operations })
}

fn credentials(
    document: &OpenAPI,
    requirements: &[SecurityRequirement],
) -> Result<Vec<CredentialVariant>> {
    use heck::ToPascalCase;

    let mut variants = Vec::new();
    for requirement in requirements.iter().filter(|requirement| !requirement.is_empty()) {
        let mut schemes = Vec::new();
        for name in requirement.keys() {
            let scheme = document
                .components
                .as_ref()
                .and_then(|components| components.security_schemes.get(name))
                .with_context(|| format!("unknown security scheme `{name}`"))?;
            let scheme = walk::resolve_typed(document, scheme)?;
            schemes.push((
                name.clone(),
                support::scheme_kind(name, scheme).map_err(anyhow::Error::msg)?,
            ));
        }
        let variant =
            requirement.keys().map(|name| name.to_pascal_case()).collect::<Vec<_>>().join("And");
        variants.push(CredentialVariant { variant, schemes });
    }
    Ok(variants)
}

fn read_operation(
    document: &OpenAPI,
    walked: &TypedOperation<'_>,
    base_path: &str,
    global: &[SecurityRequirement],
) -> Result<Operation> {
    let (operation, pointer) = (walked.operation, &walked.pointer);
    let id = operation.operation_id.clone().with_context(|| format!("{pointer}: operationId"))?;
    let parameters = walked
        .parameters(document)
        .into_iter()
        .map(|(pointer, parameter)| {
            read_parameter(document, parameter).with_context(|| format!("{pointer}: parameter"))
        })
        .collect::<Result<Vec<_>>>()?;
    let body = match &operation.request_body {
        None => None,
        Some(body) => {
            let body = walk::resolve_typed(document, body)?;
            Some(
                support::json_schema_name(&body.content)
                    .with_context(|| format!("{pointer}: requestBody"))?,
            )
        }
    };
    let requirements = operation.security.as_deref().unwrap_or(global);
    let secured = requirements.iter().any(|requirement| !requirement.is_empty());
    let mut responses = Vec::new();
    for (status, at, response) in support::responses(walked) {
        let response = walk::resolve_typed(document, response)?;
        responses.push(Response {
            status: status.parse().with_context(|| format!("{at}: status `{status}`"))?,
            description: response.description.clone(),
            body: support::json_schema_name(&response.content),
            has_headers: !response.headers.is_empty(),
        });
    }
    Ok(Operation {
        id,
        method: walked.method.to_owned(),
        route: format!("{base_path}{}", walked.path),
        summary: operation.summary.clone().unwrap_or_default(),
        description: operation.description.as_deref().unwrap_or("").trim().to_owned(),
        parameters,
        body,
        secured,
        responses,
    })
}

fn read_parameter(document: &OpenAPI, parameter: &SpecParameter) -> Result<Parameter> {
    let data = parameter.parameter_data_ref();
    let shape = support::parameter_shape(document, parameter).map_err(anyhow::Error::msg)?;
    let default = match &data.format {
        openapiv3::ParameterSchemaOrContent::Schema(schema) => {
            walk::resolve_typed(document, schema)?.schema_data.default.clone()
        }
        openapiv3::ParameterSchemaOrContent::Content(_) => None,
    };
    let location = if matches!(parameter, SpecParameter::Path { .. }) {
        Location::Path
    } else {
        Location::Query
    };
    Ok(Parameter {
        name: data.name.clone(),
        description: data.description.clone().unwrap_or_default(),
        location,
        required: data.required || location == Location::Path,
        shape,
        default,
        integer_type: None,
    })
}
