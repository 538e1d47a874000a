//! Run with: cargo run -p streamspec-server --example storm_server
//!
//! A minimal Storm REST API on 127.0.0.1:8082: `login` as admin/admin, and `delete_application` for
//! callers with the token from login or the API key `dev-api-key`. The other operations answer 501.
//! Try it:
//! `curl -H 'content-type: application/json' -d '{"username":"admin","password":"admin"}' http://127.0.0.1:8082/api/auth/login`
//! `curl -X DELETE -H 'X-Api-Key: dev-api-key' http://127.0.0.1:8082/api/applications/live`

use std::sync::Arc;

use streamspec_server::storm::{self, Credentials, StormApi, types};
use streamspec_server::{HandlerError, async_trait, axum};

const TOKEN: &str = "not-a-real-jwt";

struct Storm;

fn meta() -> types::Meta {
    types::Meta::new(0, 0)
}

fn error(message: &str) -> types::ErrorResponse {
    types::ErrorResponse::new(message.into())
}

#[async_trait]
impl StormApi for Storm {
    async fn login(&self, input: storm::LoginInput) -> Result<storm::LoginResponse, HandlerError> {
        let body = input.body;
        if body.username.as_str() != "admin" || body.password.expose() != "admin" {
            return Ok(storm::LoginResponse::Unauthorized(error("Invalid credentials")));
        }
        let token = TOKEN.parse().map_err(HandlerError::internal)?;
        // The required fields in the order `new` takes them: alphabetical, as the type lists them.
        let data =
            types::LoginData::new(token, 0, 900_000, types::TokenType::Bearer, "admin".into());
        Ok(storm::LoginResponse::Ok(types::LoginResponse::new(data, meta())))
    }

    async fn delete_application(
        &self,
        input: storm::DeleteApplicationInput,
    ) -> Result<storm::DeleteApplicationResponse, HandlerError> {
        let allowed = match &input.credentials {
            Credentials::BearerAuth { token } => token.expose() == TOKEN,
            Credentials::ApiKeyAuth { x_api_key } => x_api_key.expose() == "dev-api-key",
        };
        if !allowed {
            return Ok(storm::DeleteApplicationResponse::Unauthorized(error("Invalid token")));
        }
        let message = format!("Application {} deleted", input.app_name.as_str());
        let body = types::MessageResponse::new(message, meta());
        Ok(storm::DeleteApplicationResponse::Ok(body))
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8082").await?;
    println!("Storm REST API on http://{}", listener.local_addr()?);
    axum::serve(listener, storm::router(Arc::new(Storm))).await
}
