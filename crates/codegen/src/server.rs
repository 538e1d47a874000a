//! Generates `crates/server/src/generated/<api>.rs`: the credentials, per-operation inputs and response
//! enums, the async trait and the axum router of one API. progenitor makes clients only, so this is
//! ours. What it supports is [`crate::support`]'s to say: lint reports the rest at its place, and
//! this refuses a spec with any of it rather than generate something wrong.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use heck::{ToPascalCase, ToSnakeCase};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use serde_json::Value;

use crate::registry::Api;
use crate::support::{self, ParameterShape, SchemeKind};
use crate::walk::{self, OperationRef};

/// The server code of the API `api`, from its spec without the validation-only rules.
pub fn generate(spec: &Value, api: &Api) -> Result<syn::File> {
    let refused = support::unsupported(spec);
    if !refused.is_empty() {
        let listed: Vec<String> =
            refused.iter().map(|(pointer, message)| format!("{pointer}: {message}")).collect();
        bail!("the server generator does not support:\n{}", listed.join("\n"));
    }
    let generator = Generator { spec };
    let scheme_defs = generator.security_schemes()?;
    let global_security = spec.get("security").cloned().unwrap_or(Value::Array(Vec::new()));
    let credentials = generator.credentials(&scheme_defs, &global_security)?;
    let base_path = walk::base_path(spec);
    let operations = walk::operations(spec)
        .iter()
        .map(|operation| generator.operation(operation, &base_path))
        .collect::<Result<Vec<_>>>()?;
    let headers = generator.response_headers()?;

    let module = format_ident!("{}", api.module);
    let trait_ident = format_ident!("{}", api.trait_name);
    let has_security = !credentials.variants.is_empty();
    let credentials_code = if has_security { credentials.tokens() } else { quote!() };
    let headers_code = headers.as_ref().map(ResponseHeaders::tokens).unwrap_or_default();
    let inputs = operations.iter().map(Operation::input_tokens);
    let responses = operations.iter().map(|op| op.response_tokens(headers.is_some()));
    let methods = operations.iter().map(Operation::trait_method_tokens);
    let authenticate = has_security.then(|| {
        quote! {
            /// Checks the caller's credentials before anything of the request past its headers is
            /// read, so a caller the API does not know gets its 401 and never a 400 about its query or
            /// body. `operation` is the `operationId`. The default accepts any well-formed
            /// credentials and leaves the check to each operation.
            async fn authenticate(&self, operation: &'static str, credentials: &Credentials) -> Result<(), Rejection> {
                let _ = (operation, credentials);
                Ok(())
            }
        }
    });
    let handlers = operations.iter().map(|op| op.handler_tokens(&trait_ident));

    let mut routes: BTreeMap<String, Vec<TokenStream>> = BTreeMap::new();
    let mut route_order = Vec::new();
    for op in &operations {
        let handler = format_ident!("handle_{}", op.id);
        let method = format_ident!("{}", op.method);
        if !routes.contains_key(&op.route) {
            route_order.push(op.route.clone());
        }
        routes.entry(op.route.clone()).or_default().push(quote!(#method(#handler::<T>)));
    }
    let route_calls = route_order.iter().map(|route| {
        let methods = &routes[route];
        quote!(.route(#route, axum::routing::#(#methods).*))
    });
    let route_list = route_order.join("`, `");
    let routes_doc = format!(
        " Every operation of the spec at its path (`{route_list}`), without a fallback: for merging with \
         other routes. Prefer [`router`], which adds the envelope's 404, 405 and 500."
    );

    let tokens = quote! {
        use std::sync::Arc;

        use axum::extract::{Request, State};
        use axum::http::StatusCode;
        use axum::response::{IntoResponse, Response};

        #[allow(unused_imports)]
        use crate::adapter::{Call, ErrorEnvelope, HandlerError, Rejection, RouterOptions, json_response};
        use super::Envelope;

        /// The types of this API, from `streamspec-types`: one definition shared with the client.
        pub use streamspec_types::#module as types;

        #credentials_code
        #headers_code
        #(#inputs)*
        #(#responses)*

        /// One method per operation of the spec. Every method has a default that answers 501 in the
        /// API's error envelope, so an implementation can start with one operation.
        #[async_trait::async_trait]
        pub trait #trait_ident: Send + Sync + 'static {
            #authenticate
            #(#methods)*
        }

        struct Shared<T: ?Sized> {
            api: Arc<T>,
            options: RouterOptions,
        }

        #[doc = #routes_doc]
        pub fn routes<T: #trait_ident + ?Sized>(api: Arc<T>, options: RouterOptions) -> axum::Router {
            axum::Router::new()
                #(#route_calls)*
                .with_state(Arc::new(Shared { api, options }))
        }

        /// A router that serves `api` exactly as the spec says, with [`RouterOptions::default`].
        pub fn router<T: #trait_ident + ?Sized>(api: Arc<T>) -> axum::Router {
            router_with(api, RouterOptions::default())
        }

        /// A router that serves `api` exactly as the spec says: the operations, 404 for unknown paths
        /// and 405 (with `Allow`) for unknown methods in the error envelope, and a panicking handler
        /// answered 500 while the server keeps serving.
        pub fn router_with<T: #trait_ident + ?Sized>(api: Arc<T>, options: RouterOptions) -> axum::Router {
            crate::adapter::finish::<Envelope>(routes(api, options))
        }

        #(#handlers)*
    };
    syn::parse2(tokens.clone())
        .with_context(|| format!("parsing the generated server code:\n{tokens}"))
}

struct Generator<'a> {
    spec: &'a Value,
}

impl Generator<'_> {
    fn resolve<'v>(&'v self, value: &'v Value) -> Result<&'v Value> {
        Ok(walk::resolve(self.spec, value)?)
    }

    fn security_schemes(&self) -> Result<BTreeMap<String, Scheme>> {
        let mut schemes = BTreeMap::new();
        let Some(defined) =
            self.spec.pointer("/components/securitySchemes").and_then(Value::as_object)
        else {
            return Ok(schemes);
        };
        for (name, scheme) in defined {
            let kind = support::scheme_kind(name, scheme).map_err(anyhow::Error::msg)?;
            schemes.insert(name.clone(), Scheme { name: name.clone(), kind });
        }
        Ok(schemes)
    }

    fn credentials(
        &self,
        schemes: &BTreeMap<String, Scheme>,
        security: &Value,
    ) -> Result<Credentials> {
        let mut variants = Vec::new();
        for requirement in security.as_array().into_iter().flatten() {
            let names: Vec<&String> =
                requirement.as_object().context("a security requirement")?.keys().collect();
            if names.is_empty() {
                continue;
            }
            let parts: Vec<Scheme> = names
                .iter()
                .map(|name| {
                    schemes
                        .get(*name)
                        .cloned()
                        .with_context(|| format!("unknown security scheme `{name}`"))
                })
                .collect::<Result<_>>()?;
            let variant =
                names.iter().map(|name| name.to_pascal_case()).collect::<Vec<_>>().join("And");
            variants.push(CredentialVariant { variant, parts });
        }
        Ok(Credentials { variants })
    }

    fn operation(&self, walked: &OperationRef<'_>, base_path: &str) -> Result<Operation> {
        let (path, method, operation, pointer) =
            (walked.path, walked.method, walked.operation, &walked.pointer);
        let id =
            operation.get("operationId").and_then(Value::as_str).context("operationId")?.to_owned();
        let mut parameters = Vec::new();
        for (_, parameter) in walked.parameters(self.spec) {
            parameters
                .push(self.parameter(parameter).with_context(|| format!("{pointer}: parameter"))?);
        }
        let body = match operation.get("requestBody") {
            None => None,
            Some(body) => {
                let body = self.resolve(body)?;
                let schema =
                    body.pointer("/content/application~1json/schema").with_context(|| {
                        format!("{pointer}: only application/json bodies are supported")
                    })?;
                Some(self.named_type(schema).with_context(|| format!("{pointer}: requestBody"))?)
            }
        };
        let secured = match operation.get("security") {
            Some(Value::Array(requirements)) => {
                requirements.iter().any(|r| r.as_object().is_some_and(|o| !o.is_empty()))
            }
            _ => self.spec.get("security").and_then(Value::as_array).is_some_and(|r| !r.is_empty()),
        };
        let mut responses = Vec::new();
        for (status, response) in
            operation.get("responses").and_then(Value::as_object).context("responses")?
        {
            let code: u16 = status
                .parse()
                .with_context(|| format!("{pointer}: status `{status}` must be a number"))?;
            let response = self.resolve(response)?;
            let body = match response.pointer("/content/application~1json/schema") {
                Some(schema) => Some(
                    self.named_type(schema)
                        .with_context(|| format!("{pointer}: response {status}"))?,
                ),
                None => None,
            };
            let headers: Vec<String> = response
                .get("headers")
                .and_then(Value::as_object)
                .map(|headers| headers.keys().cloned().collect())
                .unwrap_or_default();
            let description =
                response.get("description").and_then(Value::as_str).unwrap_or("").to_owned();
            responses.push(ResponseVariant { code, body, headers, description });
        }
        Ok(Operation {
            id,
            method: method.to_owned(),
            route: format!("{base_path}{path}"),
            summary: operation.get("summary").and_then(Value::as_str).unwrap_or("").to_owned(),
            description: operation
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim()
                .to_owned(),
            http: format!("{} {base_path}{path}", method.to_uppercase()),
            parameters,
            body,
            secured,
            responses,
        })
    }

    /// The `types::Name` of a `$ref`'d schema.
    fn named_type(&self, schema: &Value) -> Result<TokenStream> {
        let reference = schema
            .get("$ref")
            .and_then(Value::as_str)
            .context("bodies must be a `$ref` to a component schema")?;
        let name = walk::component_schema(reference)
            .with_context(|| format!("`{reference}` does not name a component schema"))?;
        let ident = format_ident!("{}", name);
        Ok(quote!(types::#ident))
    }

    fn parameter(&self, parameter: &Value) -> Result<Parameter> {
        let name = parameter.get("name").and_then(Value::as_str).context("name")?.to_owned();
        let required = parameter.get("required").and_then(Value::as_bool).unwrap_or(false);
        let schema = parameter.get("schema").context("schema")?;
        let default = self.resolve(schema)?.get("default").cloned();
        let shape = support::parameter_shape(self.spec, parameter).map_err(anyhow::Error::msg)?;
        let kind = match shape {
            ParameterShape::Integer { min, max } => ParameterKind::Integer { min, max },
            ParameterShape::Boolean => {
                ParameterKind::Parsed { ty: quote!(bool), expected: "`true` or `false`".to_owned() }
            }
            ParameterShape::Uuid => {
                ParameterKind::Parsed { ty: quote!(uuid::Uuid), expected: "a UUID".to_owned() }
            }
            ParameterShape::Named { name, expected } => {
                let ident = format_ident!("{}", name);
                ParameterKind::Parsed { ty: quote!(types::#ident), expected }
            }
            ParameterShape::Text => {
                ParameterKind::Parsed { ty: quote!(String), expected: "text".to_owned() }
            }
        };
        let location = match parameter.get("in").and_then(Value::as_str) {
            Some("path") => Location::Path,
            _ => Location::Query,
        };
        Ok(Parameter {
            description: parameter
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            name,
            location,
            required: required || location == Location::Path,
            kind,
            default,
        })
    }

    /// The one set of response headers every response documents, if any ([`support::response_headers`]).
    fn response_headers(&self) -> Result<Option<ResponseHeaders>> {
        let names = support::response_headers(self.spec)
            .map_err(|(pointer, message)| anyhow::anyhow!("{pointer}: {message}"))?;
        Ok((!names.is_empty()).then_some(ResponseHeaders { names }))
    }
}

#[derive(Clone)]
struct Scheme {
    name: String,
    kind: SchemeKind,
}

struct CredentialVariant {
    variant: String,
    parts: Vec<Scheme>,
}

struct Credentials {
    variants: Vec<CredentialVariant>,
}

impl Credentials {
    fn tokens(&self) -> TokenStream {
        let mut definitions = Vec::new();
        let mut extractions = Vec::new();
        let mut accepted = Vec::new();
        for CredentialVariant { variant, parts } in &self.variants {
            let variant_ident = format_ident!("{}", variant);
            let names: Vec<String> =
                parts.iter().map(|scheme| format!("`{}`", scheme.name)).collect();
            let doc = format!(
                " The {} security scheme{}.",
                names.join(" and "),
                if parts.len() > 1 { "s together" } else { "" }
            );
            match parts.as_slice() {
                [Scheme { kind: SchemeKind::Bearer, .. }] => {
                    definitions.push(quote! {
                        #[doc = #doc]
                        #variant_ident {
                            /// The bearer token.
                            token: streamspec_types::Secret,
                        },
                    });
                    extractions.push(quote! {
                        if let Some(token) = crate::adapter::bearer(headers)? {
                            return Ok(Self::#variant_ident { token });
                        }
                    });
                    accepted.push("`Authorization: Bearer <token>`".to_owned());
                }
                [Scheme { kind: SchemeKind::Basic, .. }] => {
                    definitions.push(quote! {
                        #[doc = #doc]
                        #variant_ident {
                            /// The user part of HTTP Basic.
                            username: String,
                            /// The password part of HTTP Basic.
                            password: streamspec_types::Secret,
                        },
                    });
                    extractions.push(quote! {
                        if let Some((username, password)) = crate::adapter::basic(headers)? {
                            return Ok(Self::#variant_ident { username, password });
                        }
                    });
                    accepted.push("HTTP Basic".to_owned());
                }
                keys if keys.iter().all(|scheme| matches!(scheme.kind, SchemeKind::ApiKey(_))) => {
                    let headers: Vec<&str> = keys
                        .iter()
                        .map(|scheme| match &scheme.kind {
                            SchemeKind::ApiKey(header) => header.as_str(),
                            _ => unreachable!(),
                        })
                        .collect();
                    let fields: Vec<Ident> = headers
                        .iter()
                        .map(|header| format_ident!("{}", header.to_snake_case()))
                        .collect();
                    let field_docs =
                        headers.iter().map(|header| format!(" The `{header}` header."));
                    definitions.push(quote! {
                        #[doc = #doc]
                        #variant_ident {
                            #(#[doc = #field_docs] #fields: streamspec_types::Secret,)*
                        },
                    });
                    let lowered: Vec<String> =
                        headers.iter().map(|header| header.to_ascii_lowercase()).collect();
                    extractions.push(quote! {
                        if let (#(Some(#fields),)*) = (#(crate::adapter::api_key(headers, #lowered)?,)*) {
                            return Ok(Self::#variant_ident { #(#fields),* });
                        }
                    });
                    let listed: Vec<String> =
                        headers.iter().map(|header| format!("`{header}`")).collect();
                    accepted.push(format!(
                        "the {} header{}",
                        listed.join(" and "),
                        if headers.len() > 1 { "s" } else { "" }
                    ));
                }
                _ => unreachable!("a requirement mixing HTTP and API key schemes"),
            }
        }
        let missing = format!("missing credentials: send {}", accepted.join(", or "));
        quote! {
            /// The caller's credentials, as the spec's security requirements describe them. The adapter
            /// reads them before the handler runs and answers 401 when there are none. `Debug` prints
            /// no secret.
            #[derive(Debug, Clone, PartialEq, Eq)]
            pub enum Credentials {
                #(#definitions)*
            }

            impl Credentials {
                /// Reads the credentials of a request, trying each security requirement in the spec's
                /// order; a malformed one, or none at all, is a 401.
                pub fn from_headers(headers: &axum::http::HeaderMap) -> Result<Self, Rejection> {
                    #(#extractions)*
                    Err(Rejection::unauthorized(#missing))
                }
            }
        }
    }
}

struct ResponseHeaders {
    names: Vec<String>,
}

impl ResponseHeaders {
    fn tokens(&self) -> TokenStream {
        let fields: Vec<Ident> =
            self.names.iter().map(|name| format_ident!("{}", name.to_snake_case())).collect();
        let lowered: Vec<String> =
            self.names.iter().map(|name| name.to_ascii_lowercase()).collect();
        let docs = self.names.iter().map(|name| format!(" `{name}`."));
        quote! {
            /// The headers every response of this API carries.
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            pub struct ResponseHeaders {
                #(#[doc = #docs] pub #fields: i64,)*
            }

            impl ResponseHeaders {
                fn apply(&self, headers: &mut axum::http::HeaderMap) {
                    #(headers.insert(#lowered, axum::http::HeaderValue::from(self.#fields));)*
                }
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Location {
    Path,
    Query,
}

enum ParameterKind {
    Integer { min: Option<i64>, max: Option<i64> },
    Parsed { ty: TokenStream, expected: String },
}

struct Parameter {
    name: String,
    description: String,
    location: Location,
    required: bool,
    kind: ParameterKind,
    default: Option<Value>,
}

impl Parameter {
    fn field(&self) -> Ident {
        field_ident(&self.name)
    }

    fn ty(&self) -> TokenStream {
        match &self.kind {
            ParameterKind::Integer { .. } => quote!(i64),
            ParameterKind::Parsed { ty, .. } => ty.clone(),
        }
    }

    fn field_tokens(&self) -> TokenStream {
        let field = self.field();
        let ty = self.ty();
        let mut doc = format!(" {}", self.description);
        if let Some(default) = &self.default {
            doc.push_str(&format!(" Default: `{default}`, applied by the adapter."));
        }
        if self.required || self.default.is_some() {
            quote!(#[doc = #doc] pub #field: #ty,)
        } else {
            quote!(#[doc = #doc] pub #field: Option<#ty>,)
        }
    }

    fn decode_tokens(&self) -> TokenStream {
        let field = self.field();
        let name = &self.name;
        let value = match (&self.kind, self.location) {
            (ParameterKind::Integer { min, max }, Location::Query) => {
                let min = option_tokens(*min);
                let max = option_tokens(*max);
                quote!(call.query_integer(#name, #min, #max)?)
            }
            (ParameterKind::Parsed { ty, expected }, Location::Query) => {
                quote!(call.query::<#ty>(#name, #expected)?)
            }
            (ParameterKind::Integer { .. }, Location::Path) => {
                quote!(call.path::<i64>(#name, "an integer")?)
            }
            (ParameterKind::Parsed { ty, expected }, Location::Path) => {
                quote!(call.path::<#ty>(#name, #expected)?)
            }
        };
        let value = match (self.location, &self.default, &self.kind) {
            (Location::Path, _, _) => value,
            (Location::Query, Some(default), ParameterKind::Integer { .. }) => {
                let default = default.as_i64().unwrap_or_default();
                quote!(#value.unwrap_or(#default))
            }
            (Location::Query, Some(default), ParameterKind::Parsed { ty, .. }) => {
                let default =
                    default.as_str().map(str::to_owned).unwrap_or_else(|| default.to_string());
                quote!(#value.unwrap_or_else(|| #default.parse::<#ty>().expect("the spec's default is valid")))
            }
            (Location::Query, None, _) if self.required => quote!(Call::required(#value, #name)?),
            (Location::Query, None, _) => value,
        };
        quote!(let #field = #value;)
    }
}

fn option_tokens(value: Option<i64>) -> TokenStream {
    match value {
        Some(value) => quote!(Some(#value)),
        None => quote!(None),
    }
}

struct ResponseVariant {
    code: u16,
    body: Option<TokenStream>,
    headers: Vec<String>,
    description: String,
}

impl ResponseVariant {
    fn ident(&self) -> Ident {
        let reason = http::StatusCode::from_u16(self.code)
            .ok()
            .and_then(|status| status.canonical_reason())
            .map(str::to_pascal_case)
            .unwrap_or_else(|| format!("Status{}", self.code));
        format_ident!("{}", reason)
    }
}

struct Operation {
    id: String,
    method: String,
    route: String,
    http: String,
    summary: String,
    description: String,
    parameters: Vec<Parameter>,
    body: Option<TokenStream>,
    secured: bool,
    responses: Vec<ResponseVariant>,
}

impl Operation {
    fn pascal(&self) -> String {
        self.id.to_pascal_case()
    }

    fn input_ident(&self) -> Ident {
        format_ident!("{}Input", self.pascal())
    }

    fn response_ident(&self) -> Ident {
        format_ident!("{}Response", self.pascal())
    }

    fn input_tokens(&self) -> TokenStream {
        let ident = self.input_ident();
        let doc = format!(" The decoded request of `{}` (`{}`).", self.id, self.http);
        let credentials = self.secured.then(|| {
            quote! {
                /// Who is calling.
                pub credentials: Credentials,
            }
        });
        let fields = self.parameters.iter().map(Parameter::field_tokens);
        let body = self.body.as_ref().map(|ty| {
            quote! {
                /// The decoded JSON body.
                pub body: #ty,
            }
        });
        quote! {
            #[doc = #doc]
            #[derive(Debug, Clone)]
            pub struct #ident {
                #credentials
                #(#fields)*
                #body
            }
        }
    }

    fn response_tokens(&self, with_headers: bool) -> TokenStream {
        let ident = self.response_ident();
        let doc =
            format!(" Every response the spec documents for `{}`, and nothing else.", self.id);
        let variants = self.responses.iter().map(|response| {
            let variant = response.ident();
            let doc = format!(" {}: {}", response.code, response.description);
            let headers =
                (with_headers && !response.headers.is_empty()).then(|| quote!(ResponseHeaders));
            match (&response.body, headers) {
                (Some(body), Some(headers)) => quote!(#[doc = #doc] #variant(#body, #headers),),
                (Some(body), None) => quote!(#[doc = #doc] #variant(#body),),
                (None, Some(headers)) => quote!(#[doc = #doc] #variant(#headers),),
                (None, None) => quote!(#[doc = #doc] #variant,),
            }
        });
        let arms = self.responses.iter().map(|response| {
            let variant = response.ident();
            let code = response.code;
            let status = quote!(StatusCode::from_u16(#code).expect("a documented status"));
            let headers = with_headers && !response.headers.is_empty();
            match (&response.body, headers) {
                (Some(_), true) => quote!(Self::#variant(body, headers) => {
                    let mut response = json_response(#status, &body);
                    headers.apply(response.headers_mut());
                    response
                }),
                (Some(_), false) => quote!(Self::#variant(body) => json_response(#status, &body),),
                (None, true) => quote!(Self::#variant(headers) => {
                    let mut response = #status.into_response();
                    headers.apply(response.headers_mut());
                    response
                }),
                (None, false) => quote!(Self::#variant => #status.into_response(),),
            }
        });
        quote! {
            #[doc = #doc]
            #[derive(Debug, Clone)]
            pub enum #ident {
                #(#variants)*
            }

            impl IntoResponse for #ident {
                fn into_response(self) -> Response {
                    match self {
                        #(#arms)*
                    }
                }
            }
        }
    }

    fn trait_method_tokens(&self) -> TokenStream {
        let method = format_ident!("{}", self.id);
        let input = self.input_ident();
        let response = self.response_ident();
        let id = &self.id;
        let mut doc =
            vec![format!(" {}", self.summary), String::new(), format!(" `{}`", self.http)];
        if !self.description.is_empty() {
            doc.push(String::new());
            doc.extend(self.description.lines().map(|line| format!(" {line}")));
        }
        quote! {
            #(#[doc = #doc])*
            async fn #method(&self, input: #input) -> Result<#response, HandlerError> {
                let _ = input;
                Err(HandlerError::NotImplemented { operation: #id })
            }
        }
    }

    fn handler_tokens(&self, trait_ident: &Ident) -> TokenStream {
        let handler = format_ident!("handle_{}", self.id);
        let method = format_ident!("{}", self.id);
        let input = self.input_ident();
        let id = &self.id;
        let credentials = self.secured.then(|| {
            quote! {
                let credentials = Credentials::from_headers(call.headers())?;
                shared.api.authenticate(#id, &credentials).await?;
            }
        });
        let credentials_field = self.secured.then(|| quote!(credentials,));
        let decode = self.parameters.iter().map(Parameter::decode_tokens);
        let fields = self.parameters.iter().map(Parameter::field);
        let body = self
            .body
            .as_ref()
            .map(|ty| quote!(let body = call.json_body::<#ty>(shared.options.body_limit).await?;));
        let body_field = self.body.as_ref().map(|_| quote!(body,));
        let mutability = self.body.as_ref().map(|_| quote!(mut));
        quote! {
            async fn #handler<T: #trait_ident + ?Sized>(State(shared): State<Arc<Shared<T>>>, request: Request) -> Response {
                let decoded = async {
                    let #mutability call = Call::new(request).await?;
                    #credentials
                    #(#decode)*
                    #body
                    Ok::<_, Rejection>(#input { #credentials_field #(#fields,)* #body_field })
                }
                .await;
                let input = match decoded {
                    Ok(input) => input,
                    Err(rejection) => return rejection.into_response_with::<Envelope>(),
                };
                match shared.api.#method(input).await {
                    Ok(response) => response.into_response(),
                    Err(error) => error.into_response_with::<Envelope>(#id),
                }
            }
        }
    }
}

/// The field for a parameter: its snake-case name, with `_` after a Rust keyword (`type` is
/// `type_`), as typify names struct fields, so the server input and the client builder agree.
fn field_ident(name: &str) -> Ident {
    let snake = name.to_snake_case();
    match syn::parse_str::<Ident>(&snake) {
        Ok(_) => format_ident!("{}", snake),
        Err(_) => format_ident!("{}_", snake),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parameter_named_after_a_keyword_gets_an_underscore() {
        assert_eq!(field_ident("type").to_string(), "type_");
        assert_eq!(field_ident("sort_by").to_string(), "sort_by");
        assert_eq!(field_ident("orderBy").to_string(), "order_by");
    }
}
