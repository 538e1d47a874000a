//! The control operations of `spec/emulator.yaml`: the emulator as a test fixture. [`Control`]
//! answers health and credentials and decides who may call ([`Control::admits`]); [`Faults`] holds
//! the injected faults the front door applies; [`Journal`] the requests it recorded; [`Fixture`]
//! puts them together with what a reset empties.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use streamspec_conformance::{Api, Catalog};
use streamspec_ingest_auth::Authorizer;
use streamspec_server::axum;
use streamspec_server::emulator::types::{
    AiozAccount, AiozCredentials, ApiName, EmulatorCredentials, Fault, FaultAction, FaultRule,
    Health, HealthStatus, JournalEntry, Listener, ListenerProtocol, StormCredentials, StormUser,
};
use streamspec_server::types::Secret;
use streamspec_server::types::chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::Storage;
use crate::{Config, Credentials, MinuteWindows};

/// The header that carries the control token.
pub const CONTROL_TOKEN_HEADER: &str = "x-emulator-token";

/// `path` as the log and the journal write it: the `stream_key` a multicast path names is a
/// credential, so it is written as `{stream_key}`.
pub(crate) fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    const MULTICAST: &str = "/api/live_streams/multicast/";
    match path.strip_prefix(MULTICAST) {
        Some(key) if !key.is_empty() => format!("{MULTICAST}{{stream_key}}").into(),
        _ => path.into(),
    }
}

/// Whether `path` is a control operation's: `/_emulator/` and anything but publishing.
pub(crate) fn is_control_path(path: &str) -> bool {
    path.strip_prefix("/_emulator/").is_some_and(|rest| {
        matches!(rest, "health" | "credentials" | "reset" | "journal" | "faults" | "sessions")
            || rest.starts_with("faults/")
            || rest.starts_with("specs/")
    })
}

/// Marks a response that must not be sent: the connection is closed instead (a `close` fault).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CloseConnection;

/// Why a connection was closed without an answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClosedByFault;

impl std::fmt::Display for ClosedByFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the connection is closed by a fault")
    }
}

impl std::error::Error for ClosedByFault {}

/// The response of a `close` fault: never sent, its connection closed.
pub(crate) fn closed() -> axum::response::Response {
    let mut response = axum::response::Response::default();
    response.extensions_mut().insert(CloseConnection);
    response
}

/// The spec's name of an API (the journal's `api`, `get_spec`'s parameter).
pub(crate) fn api_name(api: Api) -> ApiName {
    match api {
        Api::Aioz => ApiName::Aioz,
        Api::Storm => ApiName::Storm,
        Api::Emulator => ApiName::Emulator,
    }
}

/// The API of a spec's name: [`api_name`] the other way.
pub(crate) fn api_of(name: ApiName) -> Api {
    match name {
        ApiName::Aioz => Api::Aioz,
        ApiName::Storm => Api::Storm,
        ApiName::Emulator => Api::Emulator,
    }
}

/// What health and credentials answer: the credentials and the bound listeners; and the RTMP
/// ingest URL that live stream keys carry.
#[derive(Debug)]
pub(crate) struct Control {
    credentials: RwLock<Credentials>,
    listeners: RwLock<Vec<SocketAddr>>,
    rtmp: RwLock<Option<SocketAddr>>,
    /// `ingest_base_url` when configured; else the URL follows the RTMP listener.
    ingest_base_url: Option<String>,
    /// Where the RTMP listener is configured to bind, for the URL before it is bound.
    rtmp_listen: SocketAddr,
    /// Where the HTTP listener is configured to bind, for placeholder URLs before one is bound.
    http_listen: SocketAddr,
    /// The RTMP application AIOZ's publishes go to: the `rtmp_url`'s last path segment.
    aioz_application: String,
}

/// The application AIOZ's keys publish to: the last segment of their `rtmp_url`.
pub(crate) const AIOZ_APPLICATION: &str = "live";

impl Control {
    pub(crate) fn new(credentials: Credentials, config: &Config) -> Self {
        Self {
            credentials: RwLock::new(credentials),
            listeners: RwLock::default(),
            rtmp: RwLock::default(),
            ingest_base_url: config.ingest_base_url.clone(),
            rtmp_listen: config.rtmp_listen,
            http_listen: config.listen,
            aioz_application: match &config.ingest_base_url {
                Some(url) => {
                    url.trim_end_matches('/').rsplit('/').next().unwrap_or_default().into()
                }
                None => AIOZ_APPLICATION.to_owned(),
            },
        }
    }

    /// Records a bound HTTP listener (once); health answers it from then on.
    pub(crate) fn bound(&self, address: SocketAddr) {
        let mut listeners = self.listeners.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !listeners.contains(&address) {
            listeners.push(address);
        }
    }

    /// Records the bound RTMP listener: health answers it, and keys' `rtmp_url` names it.
    pub(crate) fn bound_rtmp(&self, address: SocketAddr) {
        *self.rtmp.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(address);
    }

    fn rtmp_address(&self) -> Option<SocketAddr> {
        *self.rtmp.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The `rtmp_url` of every live stream key: `ingest_base_url` when configured, else
    /// `rtmp://<RTMP listener>/live`.
    pub(crate) fn rtmp_url(&self) -> String {
        match &self.ingest_base_url {
            Some(url) => url.clone(),
            None => {
                let address = self.rtmp_address().unwrap_or(self.rtmp_listen);
                format!("rtmp://{address}/{AIOZ_APPLICATION}")
            }
        }
    }

    /// A URL on the emulator's first HTTP listener that stands for something it does not serve (a
    /// streaming's player or manifest): `http://<listener>/_emulator/placeholder/<id>/<rest>`.
    pub(crate) fn placeholder_url(&self, id: &str, rest: &str) -> String {
        let address = self.listeners().first().copied().unwrap_or(self.http_listen);
        format!("http://{address}/_emulator/placeholder/{id}/{rest}")
    }

    /// The RTMP application AIOZ's publishes go to: the `rtmp_url`'s last path segment.
    pub(crate) fn aioz_application(&self) -> &str {
        &self.aioz_application
    }

    fn listeners(&self) -> Vec<SocketAddr> {
        self.listeners.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// The credentials as they are now (a reset may have regenerated them).
    pub(crate) fn current(&self) -> Credentials {
        self.credentials.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn replace(&self, credentials: Credentials) {
        *self.credentials.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = credentials;
    }

    /// Whether a control request presenting `token` may be answered: always while every listener is
    /// on a loopback address (a local test fixture), else only with the control token.
    pub(crate) fn admits(&self, token: Option<&str>) -> bool {
        let local = self.listeners().iter().all(|address| address.ip().is_loopback());
        let credentials = self.credentials.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        local
            || token.is_some_and(|token| {
                streamspec_ingest_auth::secrets_match(token, &credentials.control_token)
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
            .chain(self.rtmp_address().map(|address| {
                Listener::new(
                    address.to_string(),
                    ListenerProtocol::Rtmp,
                    format!("rtmp://{address}"),
                )
            }))
            .collect();
        Health::new(listeners, HealthStatus::Ready, env!("CARGO_PKG_VERSION").to_owned())
    }

    /// The first bound listener.
    pub(crate) fn address(&self) -> Option<SocketAddr> {
        self.listeners().first().copied()
    }

    /// The credentials, with base URLs on `address`.
    pub(crate) fn credentials(&self, address: SocketAddr) -> EmulatorCredentials {
        let credentials = self.current();
        let secret = |value: &str| Secret::new(value).expect("issued credentials are never empty");
        let accounts = credentials
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
        let users = credentials
            .storm_users
            .iter()
            .map(|user| StormUser::new(secret(&user.password), user.username.clone()))
            .collect();
        EmulatorCredentials::new(
            AiozCredentials::new(accounts, format!("http://{address}/api")),
            StormCredentials::new(
                secret(&credentials.storm_api_key),
                format!("http://{address}"),
                users,
            ),
        )
    }
}

/// The most faults kept at once: each is a rule a test creates, not a log.
pub const MAX_FAULTS: usize = 1000;

/// What a fault does to the call it answers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Effect {
    /// Answer `status` in the API's envelope, with `Retry-After` for a 429 or 503.
    Respond { status: u16, retry_after: u32, message: String },
    /// Answer as usual after this long.
    Delay(std::time::Duration),
    /// Close the connection without an answer.
    Close,
}

/// A fault applied to one call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Applied {
    pub id: Uuid,
    pub effect: Effect,
}

/// The injected faults, in the order they were created.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    rules: Mutex<Vec<Fault>>,
    /// Whether any fault is kept: a call reads this, not the lock, while there are none.
    armed: AtomicBool,
}

impl Faults {
    fn rules(&self) -> std::sync::MutexGuard<'_, Vec<Fault>> {
        self.rules.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Checks `rule` against the specs and keeps it; the error names the field at fault. The schema
    /// already holds the rule to the faultable operations and the statuses every vendor operation
    /// documents; this checks again what a caller in process could still get wrong.
    pub(crate) fn create(&self, rule: FaultRule) -> Result<Fault, String> {
        let (action, operation, account, times) = match &rule {
            FaultRule::RespondFault(fault) => {
                (FaultAction::Respond, fault.operation.to_string(), &fault.account, &fault.times)
            }
            FaultRule::DelayFault(fault) => {
                (FaultAction::Delay, fault.operation.to_string(), &fault.account, &fault.times)
            }
            FaultRule::CloseFault(fault) => {
                (FaultAction::Close, fault.operation.to_string(), &fault.account, &fault.times)
            }
        };
        let catalog = Catalog::get();
        let found = Api::ALL
            .into_iter()
            .find_map(|api| catalog.operation(api, &operation).map(|found| (api, found)));
        let Some((api, found)) = found else {
            return Err(format!("operation: `{operation}` is no operation of the served APIs"));
        };
        if api == Api::Emulator && is_control_path(found.path()) {
            return Err(format!(
                "operation: `{operation}` is a control operation; faults apply to the vendor APIs and publishing"
            ));
        }
        let times = times.as_ref().map_or(1, |times| times.0.get());
        let mut fault = Fault::new(
            action,
            Uuid::new_v4(),
            operation.clone(),
            i32::try_from(times).unwrap_or(i32::MAX),
        );
        fault.account = account.as_ref().map(|account| account.as_str().to_owned());
        match rule {
            FaultRule::RespondFault(respond) => {
                let documented: Vec<u16> = found.statuses().filter(|s| *s >= 400).collect();
                let status = respond.status;
                if !u16::try_from(status).is_ok_and(|status| documented.contains(&status)) {
                    let listed: Vec<String> = documented.iter().map(u16::to_string).collect();
                    return Err(format!(
                        "status: {status} is not an error status the spec documents for `{operation}`; it documents {}",
                        listed.join(", ")
                    ));
                }
                fault.status = Some(status);
                fault.message = respond.message.map(|message| message.to_string());
                let limited = status == 429 || status == 503;
                fault.retry_after = respond.retry_after.or(limited.then_some(1));
            }
            FaultRule::DelayFault(delay) => fault.delay_ms = Some(delay.delay_ms),
            FaultRule::CloseFault(_) => {}
        }
        let mut rules = self.rules();
        if rules.len() >= MAX_FAULTS {
            return Err(format!(
                "the emulator keeps at most {MAX_FAULTS} faults; delete some or reset first"
            ));
        }
        rules.push(fault.clone());
        self.armed.store(true, Ordering::Release);
        Ok(fault)
    }

    pub(crate) fn list(&self) -> Vec<Fault> {
        self.rules().clone()
    }

    pub(crate) fn delete(&self, id: Uuid) -> bool {
        let mut rules = self.rules();
        let before = rules.len();
        rules.retain(|fault| fault.id != id);
        self.armed.store(!rules.is_empty(), Ordering::Release);
        rules.len() < before
    }

    pub(crate) fn clear(&self) {
        self.rules().clear();
        self.armed.store(false, Ordering::Release);
    }

    /// Whether a fault may apply: without one, a call needs no account to be matched.
    pub(crate) fn armed(&self) -> bool {
        self.armed.load(Ordering::Acquire)
    }

    /// Uses up one call of the first fault for `operation` (and `account`, where the fault names
    /// one), and answers what it does.
    pub(crate) fn take(&self, operation: &str, account: Option<&str>) -> Option<Applied> {
        if !self.armed() {
            return None;
        }
        let mut rules = self.rules();
        let index = rules.iter().position(|fault| {
            fault.operation == operation
                && fault.account.as_deref().is_none_or(|wanted| Some(wanted) == account)
        })?;
        let fault = &mut rules[index];
        fault.remaining -= 1;
        let effect = match fault.action {
            FaultAction::Respond => Effect::Respond {
                status: fault.status.and_then(|status| u16::try_from(status).ok()).unwrap_or(500),
                retry_after: fault.retry_after.and_then(|s| u32::try_from(s).ok()).unwrap_or(1),
                message: fault.message.clone().unwrap_or_else(|| {
                    format!("fault {} injected into {}", fault.id, fault.operation)
                }),
            },
            FaultAction::Delay => Effect::Delay(std::time::Duration::from_millis(
                fault.delay_ms.and_then(|ms| u64::try_from(ms).ok()).unwrap_or(0),
            )),
            FaultAction::Close => Effect::Close,
        };
        let applied = Applied { id: fault.id, effect };
        if fault.remaining <= 0 {
            rules.remove(index);
            self.armed.store(!rules.is_empty(), Ordering::Release);
        }
        Some(applied)
    }
}

/// The last requests answered, oldest first, at most `capacity`.
#[derive(Debug)]
pub(crate) struct Journal {
    capacity: usize,
    entries: Mutex<VecDeque<JournalEntry>>,
}

impl Journal {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { capacity, entries: Mutex::new(VecDeque::with_capacity(capacity.min(4096))) }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, VecDeque<JournalEntry>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn record(&self, entry: JournalEntry) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries();
        if entries.len() == self.capacity {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// The entries of `operation` (any, if `None`) that arrived at or after `since`.
    pub(crate) fn list(
        &self,
        operation: Option<&str>,
        since: Option<DateTime<Utc>>,
    ) -> Vec<JournalEntry> {
        self.entries()
            .iter()
            .filter(|entry| {
                operation.is_none_or(|wanted| entry.operation.as_deref() == Some(wanted))
            })
            .filter(|entry| since.is_none_or(|since| entry.time >= since))
            .cloned()
            .collect()
    }

    pub(crate) fn clear(&self) {
        self.entries().clear();
    }
}

/// Everything the control operations reach: what they answer, and what a reset empties.
pub(crate) struct Fixture {
    pub control: Arc<Control>,
    pub faults: Faults,
    pub journal: Journal,
    pub store: Arc<dyn Storage>,
    pub authorizer: Arc<Authorizer>,
    pub aioz: Arc<crate::aioz::Aioz>,
    pub storm: Arc<crate::storm::Storm>,
    pub sessions: Arc<crate::sessions::LiveSessions>,
    pub login_limit: Arc<MinuteWindows<IpAddr>>,
    pub publish_limit: Arc<MinuteWindows<IpAddr>>,
    pub config: Config,
}

impl std::fmt::Debug for Fixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixture")
            .field("control", &self.control)
            .field("faults", &self.faults)
            .field("journal", &self.journal.capacity)
            .finish_non_exhaustive()
    }
}

impl Fixture {
    /// Ends a live session (an RTMP publisher's connection closes); `false` when none has this id.
    /// Every session is listed, and a Storm session is the engine's too.
    pub(crate) fn end_session(&self, id: Uuid) -> bool {
        let listed = self.sessions.end(id);
        let engine = self.authorizer.end_session(id.into());
        listed || engine
    }

    /// Back to the state of a fresh start. The database changes in one transaction (keys, streams
    /// and applications, and, with `regenerate`, the generated credentials); then the sessions,
    /// rate-limit windows, faults and journal are emptied, and new credentials put in place.
    /// Answers whether the credentials were regenerated.
    pub(crate) async fn reset(&self, regenerate: bool) -> anyhow::Result<bool> {
        let settings = if regenerate { crate::config::regenerated() } else { Vec::new() };
        let jwt_secret = settings
            .iter()
            .find(|(name, _)| name == crate::config::JWT_SECRET)
            .map(|(_, value)| value.clone());
        self.store.reset(vec![crate::storm::first_application()?], settings).await?;
        self.authorizer.end_all_sessions();
        // Every encoder is disconnected.
        self.sessions.end_where(|_| true);
        self.login_limit.clear();
        self.publish_limit.clear();
        self.faults.clear();
        self.journal.clear();
        match jwt_secret {
            Some(secret) => {
                let mut credentials =
                    crate::config::credentials(&self.config, self.store.as_ref())?;
                // The control token is the process's, printed at start: a reset keeps it.
                credentials.control_token = self.control.current().control_token;
                self.aioz.reset(Some(credentials.aioz_accounts.clone()));
                self.storm.replace_credentials(&credentials, &secret);
                self.control.replace(credentials);
            }
            None => self.aioz.reset(None),
        }
        Ok(regenerate)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rule(value: serde_json::Value) -> FaultRule {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_fault_may_only_answer_what_the_spec_documents() {
        let faults = Faults::default();
        let undocumented = rule(json!({"operation": "login", "action": "respond", "status": 404}));
        let refused = faults.create(undocumented).unwrap_err();
        assert_eq!(
            refused,
            "status: 404 is not an error status the spec documents for `login`; it documents 400, 401, 413, 415, 429, 500, 503"
        );
        assert!(!faults.armed());
    }

    #[test]
    fn a_fault_answers_its_calls_then_is_gone() {
        let faults = Faults::default();
        let created = faults
            .create(rule(json!({"operation": "get_live_stream_key", "action": "respond",
                "status": 503, "times": 2, "account": "alice"})))
            .unwrap();
        assert_eq!(created.retry_after, Some(1), "a 503 says when to retry");
        assert_eq!(faults.take("get_live_stream_key", Some("bob")), None, "another account");
        assert_eq!(faults.take("list_live_stream_keys", Some("alice")), None, "another operation");
        for _ in 0..2 {
            let applied = faults.take("get_live_stream_key", Some("alice")).unwrap();
            assert_eq!(applied.id, created.id);
            assert!(matches!(applied.effect, Effect::Respond { status: 503, retry_after: 1, .. }));
        }
        assert_eq!(faults.take("get_live_stream_key", Some("alice")), None);
        assert!(faults.list().is_empty() && !faults.armed());
    }

    #[test]
    fn a_multicast_path_is_logged_without_its_stream_key() {
        let path = "/api/live_streams/multicast/9d2f7a61-3c4b-4e58-8f1a-2b6c5d4e3f70";
        assert_eq!(loggable_path(path), "/api/live_streams/multicast/{stream_key}");
        assert_eq!(loggable_path("/api/live_streams/abc"), "/api/live_streams/abc");
    }

    #[test]
    fn the_journal_keeps_the_last_entries() {
        let journal = Journal::new(2);
        for path in ["/a", "/b", "/c"] {
            let mut entry = JournalEntry::new(0, "GET".into(), path.into(), 200, Utc::now());
            entry.operation = Some(path.trim_start_matches('/').to_owned());
            journal.record(entry);
        }
        let paths: Vec<String> = journal.list(None, None).into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["/b", "/c"]);
        assert_eq!(journal.list(Some("c"), None).len(), 1);
        assert!(journal.list(None, Some(Utc::now() + chrono::Duration::seconds(1))).is_empty());
    }
}
