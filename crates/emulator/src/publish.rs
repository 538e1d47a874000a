//! The emulator's own operations (`spec/emulator.yaml`): publish attempts decided by
//! `streamspec-ingest-auth` under an application's stored ingest settings, and their sessions.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use streamspec_ingest_auth::{
    Allowed, Authorizer, Decision, DenyReason, IngestSettings, LookupError, ManagedStreams,
    Presented, PublishAttempt,
};
use streamspec_server::emulator::types::{
    self, ErrorResponse, IngestSessionApi, IngestSessionTransport, PublishAllowed,
    PublishAllowedDecision, PublishDecision, PublishDenied, PublishDeniedDecision,
    PublisherCredentials,
};
use streamspec_server::emulator::*;
use streamspec_server::types::storm::StreamSource;
use streamspec_server::{HandlerError, async_trait};

use crate::control::Fixture;
use crate::sessions::{LiveSession, LiveSessions};
use crate::store::Storage;

/// The managed streams, as `POST /api/streams/{appName}` stored them.
pub(crate) struct StoredStreams(pub(crate) Arc<dyn Storage>);

impl ManagedStreams for StoredStreams {
    fn stream_source(
        &self,
        application: &str,
        stream_key: &str,
    ) -> Result<Option<StreamSource>, LookupError> {
        match self.0.stream_source(application, stream_key)? {
            Some(json) => Ok(Some(serde_json::from_str(&json)?)),
            None => Ok(None),
        }
    }
}

pub struct Publishing {
    store: Arc<dyn Storage>,
    authorizer: Arc<Authorizer>,
    /// What the control operations reach, the live sessions among them.
    fixture: Arc<Fixture>,
}

impl Publishing {
    pub(crate) fn new(
        store: Arc<dyn Storage>,
        authorizer: Arc<Authorizer>,
        fixture: Arc<Fixture>,
    ) -> Self {
        Self { store, authorizer, fixture }
    }
}

fn error(message: &str) -> ErrorResponse {
    ErrorResponse::new(message.to_owned())
}

fn presented(credentials: PublisherCredentials) -> Presented {
    match credentials {
        PublisherCredentials::NoCredentials(_) => Presented::Nothing,
        PublisherCredentials::UsernamePassword(user) => {
            Presented::Credentials { username: user.username.to_string(), password: user.password }
        }
        PublisherCredentials::TokenCredentials(token) => Presented::Token(token.token),
        PublisherCredentials::StreamSecretCredentials(secret) => {
            Presented::StreamSecret(secret.secret)
        }
    }
}

fn decision(decision: Decision) -> PublishDecision {
    match decision {
        Decision::Allow(allowed) => {
            let mut body = PublishAllowed::new(
                PublishAllowedDecision::Allow,
                allowed.published,
                allowed.id.as_uuid(),
            );
            body.replaced_session_id = allowed.replaced.map(|id| id.as_uuid());
            PublishDecision::Allowed(body)
        }
        Decision::Deny(reason) => PublishDecision::Denied(PublishDenied::new(
            PublishDeniedDecision::Deny,
            reason.to_string(),
            reason.code().parse().unwrap_or(types::DenyReason::AuthorizationUnavailable),
        )),
    }
}

/// A Storm publish attempt's outcome, for the `publish` operation and the RTMP listener alike.
pub(crate) enum StormVerdict {
    /// The engine decided under the application's ingest settings.
    Decided(Decision),
    /// No application has this name.
    NoApplication,
    /// The application's type takes no ingest.
    NoIngest { application: String, kind: String },
}

impl std::fmt::Display for StormVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StormVerdict::Decided(Decision::Allow(_)) => f.write_str("allowed"),
            StormVerdict::Decided(Decision::Deny(reason)) => reason.fmt(f),
            StormVerdict::NoApplication => f.write_str("Application not found"),
            StormVerdict::NoIngest { application, kind } => {
                write!(f, "Application {application} is of type {kind}, which takes no ingest")
            }
        }
    }
}

/// Decides a publish to a Storm application by `streamspec-ingest-auth` under its stored ingest
/// settings; an allowed attempt has started its session in the engine.
pub(crate) async fn decide(
    store: &dyn Storage,
    authorizer: &Authorizer,
    attempt: &PublishAttempt,
) -> Result<StormVerdict, HandlerError> {
    let name = attempt.application.as_str();
    let Some((kind, ingest)) = crate::storm::application(store, name)? else {
        return Ok(StormVerdict::NoApplication);
    };
    let Some(attributes) = ingest.filter(|_| crate::storm::has_ingest(&kind)) else {
        return Ok(StormVerdict::NoIngest { application: name.to_owned(), kind });
    };
    let decision = match IngestSettings::from_attributes(&attributes) {
        Ok(settings) => authorizer.authorize(&settings, attempt).await,
        // The settings API refuses such settings; one stored before that rule fails closed.
        Err(error) => {
            tracing::error!(application = name, %error, "the stored ingest settings are unusable");
            Decision::Deny(DenyReason::AuthorizationUnavailable)
        }
    };
    Ok(StormVerdict::Decided(decision))
}

/// Lists an allowed Storm attempt's session, and ends the one it replaced (closing that one's
/// encoder, if it has one).
pub(crate) fn start_session(
    sessions: &LiveSessions,
    attempt: &PublishAttempt,
    allowed: &Allowed,
    transport: IngestSessionTransport,
    publisher: String,
) -> Arc<LiveSession> {
    if let Some(replaced) = allowed.replaced {
        sessions.end(replaced.as_uuid());
    }
    let session = Arc::new(LiveSession::new(
        allowed.id.as_uuid(),
        IngestSessionApi::Storm,
        transport,
        &attempt.application,
        &attempt.stream_key,
        publisher,
        allowed.published,
    ));
    sessions.start(session.clone());
    session
}

#[async_trait]
impl EmulatorApi for Publishing {
    async fn publish(&self, input: PublishInput) -> Result<PublishResponse, HandlerError> {
        let body = input.body;
        let client_address = match body.client_address.as_deref() {
            None => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some(text) => match text.parse() {
                Ok(address) => address,
                Err(_) => {
                    let message = format!("clientAddress: `{text}` is not an IPv4 or IPv6 address");
                    return Ok(PublishResponse::BadRequest(error(&message)));
                }
            },
        };
        let attempt =
            PublishAttempt::new(input.app_name.as_str(), body.stream_key.as_str(), client_address)
                .presenting(presented(body.credentials));
        let verdict = decide(self.store.as_ref(), &self.authorizer, &attempt).await?;
        let decided = match verdict {
            StormVerdict::Decided(decided) => decided,
            refused => return Ok(PublishResponse::NotFound(error(&refused.to_string()))),
        };
        if let Decision::Allow(allowed) = &decided {
            let publisher = client_address.to_string();
            start_session(
                &self.fixture.sessions,
                &attempt,
                allowed,
                IngestSessionTransport::Api,
                publisher,
            );
        }
        Ok(PublishResponse::Ok(decision(decided)))
    }

    async fn get_health(&self, _: GetHealthInput) -> Result<GetHealthResponse, HandlerError> {
        Ok(GetHealthResponse::Ok(self.fixture.control.health()))
    }

    async fn get_credentials(
        &self,
        _: GetCredentialsInput,
    ) -> Result<GetCredentialsResponse, HandlerError> {
        let control = &self.fixture.control;
        let address = control.address().unwrap_or(self.fixture.config.listen);
        Ok(GetCredentialsResponse::Ok(control.credentials(address)))
    }

    async fn reset(&self, input: ResetInput) -> Result<ResetResponse, HandlerError> {
        let regenerate = input.credentials == types::CredentialsOnReset::Regenerate;
        let regenerated = self.fixture.reset(regenerate).await.map_err(HandlerError::internal)?;
        let message = "the emulator is back to the state of a fresh start".to_owned();
        Ok(ResetResponse::Ok(types::ResetResult::new(regenerated, message)))
    }

    async fn list_faults(&self, _: ListFaultsInput) -> Result<ListFaultsResponse, HandlerError> {
        Ok(ListFaultsResponse::Ok(types::FaultList::new(self.fixture.faults.list())))
    }

    async fn create_fault(
        &self,
        input: CreateFaultInput,
    ) -> Result<CreateFaultResponse, HandlerError> {
        match self.fixture.faults.create(input.body) {
            Ok(fault) => Ok(CreateFaultResponse::Created(fault)),
            Err(message) => Ok(CreateFaultResponse::BadRequest(error(&message))),
        }
    }

    async fn delete_fault(
        &self,
        input: DeleteFaultInput,
    ) -> Result<DeleteFaultResponse, HandlerError> {
        if self.fixture.faults.delete(input.fault_id) {
            Ok(DeleteFaultResponse::NoContent)
        } else {
            Ok(DeleteFaultResponse::NotFound(error(&format!("no fault {}", input.fault_id))))
        }
    }

    async fn get_journal(
        &self,
        input: GetJournalInput,
    ) -> Result<GetJournalResponse, HandlerError> {
        let journal = &self.fixture.journal;
        let entries = journal.list(input.operation.as_deref(), input.since);
        let capacity = i32::try_from(journal.capacity()).unwrap_or(i32::MAX);
        Ok(GetJournalResponse::Ok(types::Journal::new(capacity, entries)))
    }

    async fn get_spec(&self, input: GetSpecInput) -> Result<GetSpecResponse, HandlerError> {
        let api = crate::control::api_of(input.api);
        let document = serde_json::from_str(streamspec_conformance::openapi(api))
            .map_err(HandlerError::internal)?;
        Ok(GetSpecResponse::Ok(types::OpenApiDocument(document)))
    }

    async fn list_sessions(
        &self,
        _: ListSessionsInput,
    ) -> Result<ListSessionsResponse, HandlerError> {
        Ok(ListSessionsResponse::Ok(types::SessionList::new(self.fixture.sessions.list())))
    }

    async fn end_session(
        &self,
        input: EndSessionInput,
    ) -> Result<EndSessionResponse, HandlerError> {
        if self.fixture.end_session(input.session_id) {
            Ok(EndSessionResponse::NoContent)
        } else {
            let message = format!("no live session {}", input.session_id);
            Ok(EndSessionResponse::NotFound(error(&message)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine's reasons and the spec's `DenyReason` enum must not drift apart.
    #[test]
    fn every_reason_of_the_engine_is_in_the_spec() {
        for reason in DenyReason::ALL {
            let decided = decision(Decision::Deny(reason));
            let PublishDecision::Denied(denied) = decided else { panic!() };
            assert_eq!(denied.reason.to_string(), reason.code());
            assert_eq!(denied.message, reason.to_string());
        }
    }
}
