//! The control operations of `spec/emulator.yaml` (`get_health`, `get_credentials`): the emulator as
//! a test fixture. Who may call them is [`Control::admits`]'s to say.

use std::net::SocketAddr;
use std::sync::RwLock;

use streamspec_server::emulator::types::{
    AiozAccount, AiozCredentials, EmulatorCredentials, Health, HealthStatus, Listener,
    ListenerProtocol, StormCredentials, StormUser,
};
use streamspec_server::types::Secret;

use crate::Credentials;

/// The header that carries the control token.
pub const CONTROL_TOKEN_HEADER: &str = "x-emulator-token";

/// Whether `path` is a control operation's (`/_emulator/health`, `/_emulator/credentials`).
pub(crate) fn is_control_path(path: &str) -> bool {
    matches!(path, "/_emulator/health" | "/_emulator/credentials")
}

/// What the control operations answer: the credentials, the bound listeners, the control token.
#[derive(Debug)]
pub(crate) struct Control {
    credentials: Credentials,
    listeners: RwLock<Vec<SocketAddr>>,
}

impl Control {
    pub(crate) fn new(credentials: Credentials) -> Self {
        Self { credentials, listeners: RwLock::default() }
    }

    /// Records a bound HTTP listener; health answers it from then on.
    pub(crate) fn bound(&self, address: SocketAddr) {
        self.listeners.write().unwrap_or_else(|poisoned| poisoned.into_inner()).push(address);
    }

    fn listeners(&self) -> Vec<SocketAddr> {
        self.listeners.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Whether a control request presenting `token` may be answered: always while every listener is
    /// on a loopback address (a local test fixture), else only with the control token.
    pub(crate) fn admits(&self, token: Option<&str>) -> bool {
        let local = self.listeners().iter().all(|address| address.ip().is_loopback());
        local
            || token.is_some_and(|token| {
                streamspec_ingest_auth::secrets_match(token, &self.credentials.control_token)
            })
    }

    pub(crate) fn health(&self) -> Health {
        let listeners = self
            .listeners()
            .into_iter()
            .map(|address| {
                Listener::new(
                    address.to_string(),
                    ListenerProtocol::Http,
                    format!("http://{address}"),
                )
            })
            .collect();
        Health::new(listeners, HealthStatus::Ready, env!("CARGO_PKG_VERSION").to_owned())
    }

    /// The first bound listener.
    pub(crate) fn address(&self) -> Option<SocketAddr> {
        self.listeners().first().copied()
    }

    /// The credentials, with base URLs on `address`.
    pub(crate) fn credentials(&self, address: SocketAddr) -> EmulatorCredentials {
        let secret = |value: &str| Secret::new(value).expect("issued credentials are never empty");
        let accounts = self
            .credentials
            .aioz_accounts
            .iter()
            .map(|account| {
                AiozAccount::new(
                    account.public_key.clone(),
                    secret(&account.secret_key),
                    secret(&account.token),
                    account.user_id.clone(),
                )
            })
            .collect();
        let users = self
            .credentials
            .storm_users
            .iter()
            .map(|user| StormUser::new(secret(&user.password), user.username.clone()))
            .collect();
        EmulatorCredentials::new(
            AiozCredentials::new(accounts, format!("http://{address}/api")),
            StormCredentials::new(
                secret(&self.credentials.storm_api_key),
                format!("http://{address}"),
                users,
            ),
        )
    }
}
