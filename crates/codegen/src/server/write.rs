//! Writes the server code of one API from its [`super::model::ApiModel`].

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use heck::{ToPascalCase, ToSnakeCase};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::model::{ApiModel, CredentialVariant, Location, Operation, Parameter, Response};
use crate::registry::Api;
use crate::support::{ParameterShape, SchemeKind};

/// The server code of the API `api`, from its model.
pub fn write(model: &ApiModel, api: &Api) -> Result<syn::File> {
    let operations = &model.operations;
    let module = format_ident!("{}", api.module);
    let trait_ident = format_ident!("{}", api.trait_name);
    let has_security = !model.credentials.is_empty();
    let credentials_code =
        if has_security { credentials_tokens(&model.credentials) } else { quote!() };
    let with_headers = !model.response_headers.is_empty();
    let headers_code =
        if with_headers { response_headers_tokens(&model.response_headers) } else { quote!() };
    let inputs = operations.iter().map(Operation::input_tokens);
    let responses = operations.iter().map(|op| op.response_tokens(with_headers));
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
    for op in operations {
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

fn credentials_tokens(variants: &[CredentialVariant]) -> TokenStream {
    let mut definitions = Vec::new();
    let mut extractions = Vec::new();
    let mut accepted = Vec::new();
    for CredentialVariant { variant, schemes: parts } in variants {
        let variant_ident = format_ident!("{}", variant);
        let names: Vec<String> = parts.iter().map(|(name, _)| format!("`{name}`")).collect();
        let doc = format!(
            " The {} security scheme{}.",
            names.join(" and "),
            if parts.len() > 1 { "s together" } else { "" }
        );
        match parts.as_slice() {
            [(_, SchemeKind::Bearer)] => {
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
            [(_, SchemeKind::Basic)] => {
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
            keys if keys.iter().all(|(_, kind)| matches!(kind, SchemeKind::ApiKey(_))) => {
                let headers: Vec<&str> = keys
                    .iter()
                    .filter_map(|(_, kind)| match kind {
                        SchemeKind::ApiKey(header) => Some(header.as_str()),
                        _ => None,
                    })
                    .collect();
                let fields: Vec<Ident> = headers
                    .iter()
                    .map(|header| format_ident!("{}", header.to_snake_case()))
                    .collect();
                let field_docs = headers.iter().map(|header| format!(" The `{header}` header."));
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

fn response_headers_tokens(names: &[String]) -> TokenStream {
    let fields: Vec<Ident> =
        names.iter().map(|name| format_ident!("{}", name.to_snake_case())).collect();
    let lowered: Vec<String> = names.iter().map(|name| name.to_ascii_lowercase()).collect();
    let docs = names.iter().map(|name| format!(" `{name}`."));
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

/// How the adapter decodes a parameter: integers with their bounds, anything else parsed as a type.
enum ParameterKind {
    Integer { min: Option<i64>, max: Option<i64>, ty: TokenStream },
    Parsed { ty: TokenStream, expected: String },
}

impl ParameterKind {
    fn of(shape: &ParameterShape, integer_type: Option<&str>) -> Self {
        let parsed = |ty: TokenStream, expected: &str| ParameterKind::Parsed {
            ty,
            expected: expected.to_owned(),
        };
        match shape {
            ParameterShape::Integer { min, max } => ParameterKind::Integer {
                min: *min,
                max: *max,
                ty: integer_type.and_then(|ty| ty.parse().ok()).unwrap_or_else(|| quote!(i64)),
            },
            ParameterShape::Boolean => parsed(quote!(bool), "`true` or `false`"),
            ParameterShape::Uuid => parsed(quote!(uuid::Uuid), "a UUID"),
            ParameterShape::DateTime => parsed(
                quote!(streamspec_types::chrono::DateTime<streamspec_types::chrono::Utc>),
                "an RFC 3339 time",
            ),
            ParameterShape::Named { name, expected } => {
                let ident = format_ident!("{}", name);
                parsed(quote!(types::#ident), expected)
            }
            ParameterShape::Secret => parsed(quote!(streamspec_types::Secret), "not empty"),
            ParameterShape::Text => parsed(quote!(String), "text"),
        }
    }

    fn ty(&self) -> TokenStream {
        match self {
            ParameterKind::Integer { ty, .. } | ParameterKind::Parsed { ty, .. } => ty.clone(),
        }
    }
}

impl Parameter {
    fn field(&self) -> Ident {
        field_ident(&self.name)
    }

    fn kind(&self) -> ParameterKind {
        ParameterKind::of(&self.shape, self.integer_type.as_deref())
    }

    fn field_tokens(&self) -> TokenStream {
        let field = self.field();
        let ty = self.kind().ty();
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
        let kind = self.kind();
        let value = match (&kind, self.location) {
            (ParameterKind::Integer { min, max, ty }, Location::Query) => {
                let min = option_tokens(*min);
                let max = option_tokens(*max);
                quote!(call.query_integer::<#ty>(#name, #min, #max)?)
            }
            (ParameterKind::Parsed { ty, expected }, Location::Query) => {
                quote!(call.query::<#ty>(#name, #expected)?)
            }
            (ParameterKind::Integer { ty, .. }, Location::Path) => {
                quote!(call.path::<#ty>(#name, "an integer")?)
            }
            (ParameterKind::Parsed { ty, expected }, Location::Path) => {
                quote!(call.path::<#ty>(#name, #expected)?)
            }
        };
        let value = match (self.location, &self.default, &kind) {
            (Location::Path, _, _) => value,
            (
                Location::Query,
                Some(default),
                ParameterKind::Integer { ty, .. } | ParameterKind::Parsed { ty, .. },
            ) => {
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

/// The type of a component schema, as the generated code names it.
fn named_type(name: &str) -> TokenStream {
    let ident = format_ident!("{}", name);
    quote!(types::#ident)
}

impl Response {
    fn ident(&self) -> Ident {
        let reason = http::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|status| status.canonical_reason())
            .map(str::to_pascal_case)
            .unwrap_or_else(|| format!("Status{}", self.status));
        format_ident!("{}", reason)
    }
}

fn input_ident(op: &Operation) -> Ident {
    format_ident!("{}Input", op.id.to_pascal_case())
}

fn response_ident(op: &Operation) -> Ident {
    format_ident!("{}Response", op.id.to_pascal_case())
}

impl Operation {
    fn input_tokens(&self) -> TokenStream {
        let ident = input_ident(self);
        let doc = format!(" The decoded request of `{}` (`{}`).", self.id, self.http());
        let credentials = self.secured.then(|| {
            quote! {
                /// Who is calling.
                pub credentials: Credentials,
            }
        });
        let fields = self.parameters.iter().map(Parameter::field_tokens);
        let body = self.body.as_deref().map(named_type).map(|ty| {
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
        let ident = response_ident(self);
        let doc =
            format!(" Every response the spec documents for `{}`, and nothing else.", self.id);
        let variants = self.responses.iter().map(|response| {
            let variant = response.ident();
            let doc = format!(" {}: {}", response.status, response.description);
            let headers = (with_headers && response.has_headers).then(|| quote!(ResponseHeaders));
            match (response.body.as_deref().map(named_type), headers) {
                (Some(body), Some(headers)) => quote!(#[doc = #doc] #variant(#body, #headers),),
                (Some(body), None) => quote!(#[doc = #doc] #variant(#body),),
                (None, Some(headers)) => quote!(#[doc = #doc] #variant(#headers),),
                (None, None) => quote!(#[doc = #doc] #variant,),
            }
        });
        let arms = self.responses.iter().map(|response| {
            let variant = response.ident();
            let code = response.status;
            let status = quote!(StatusCode::from_u16(#code).expect("a documented status"));
            let headers = with_headers && response.has_headers;
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
        let input = input_ident(self);
        let response = response_ident(self);
        let id = &self.id;
        let mut doc =
            vec![format!(" {}", self.summary), String::new(), format!(" `{}`", self.http())];
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
        let input = input_ident(self);
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
        let body =
            self.body.as_deref().map(named_type).map(
                |ty| quote!(let body = call.json_body::<#ty>(shared.options.body_limit).await?;),
            );
        let body_field = self.body.as_ref().map(|_| quote!(body,));
        let mutability = self.body.as_ref().map(|_| quote!(mut));
        // An operation that reads nothing of the request still has it checked by `Call::new`.
        let call = if self.secured || self.body.is_some() || !self.parameters.is_empty() {
            quote!(call)
        } else {
            quote!(_call)
        };
        quote! {
            async fn #handler<T: #trait_ident + ?Sized>(State(shared): State<Arc<Shared<T>>>, request: Request) -> Response {
                let decoded = async {
                    let #mutability #call = Call::new(request).await?;
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
pub(super) fn field_ident(name: &str) -> Ident {
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
