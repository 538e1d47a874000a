//! A running emulator with its RTMP listener, and the HTTP calls the RTMP tests make around it.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use streamspec_emulator::{Config, Emulator, RunningEmulator};

use super::rtmp_client::PATIENCE;

pub struct Fixture {
    pub emulator: RunningEmulator,
    pub rtmp: SocketAddr,
    pub http: reqwest::Client,
    aioz_token: String,
    storm_key: String,
}

impl Fixture {
    /// An emulator on 127.0.0.1, HTTP and RTMP each on a port of its own.
    pub async fn start(config: &Config) -> Self {
        let emulator = Emulator::start(config).await.unwrap();
        let credentials = emulator.credentials();
        Self {
            rtmp: emulator.rtmp_address().unwrap(),
            http: reqwest::Client::new(),
            aioz_token: credentials.aioz.accounts[0].token.expose().to_owned(),
            storm_key: credentials.storm.api_key.expose().to_owned(),
            emulator,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emulator.url())
    }

    /// A new AIOZ live stream key: the response's `data`.
    pub async fn create_key(&self) -> Value {
        let answer = self
            .http
            .post(self.url("/api/live_streams"))
            .bearer_auth(&self.aioz_token)
            .json(&json!({"name": "camera"}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        answer.json::<Value>().await.unwrap()["data"].clone()
    }

    pub async fn delete_key(&self, id: &str) {
        let answer = self
            .http
            .delete(self.url(&format!("/api/live_streams/{id}")))
            .bearer_auth(&self.aioz_token)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }

    /// A Storm call with the API key, which must succeed; its body.
    pub async fn storm(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let answer = self
            .http
            .request(method, self.url(path))
            .header("x-api-key", &self.storm_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let body = answer.json::<Value>().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// Updates the ingest settings of `live`.
    pub async fn set(&self, attributes: Value) {
        let body = json!({"data": {"attributes": attributes}});
        self.storm(reqwest::Method::PATCH, "/api/applications/live/settings/ingest", body).await;
    }

    /// `DELETE /_emulator/sessions/{id}`: its status.
    pub async fn end_session(&self, id: &str) -> u16 {
        let url = self.url(&format!("/_emulator/sessions/{id}"));
        self.http.delete(url).send().await.unwrap().status().as_u16()
    }

    pub async fn sessions(&self) -> Vec<Value> {
        let answer = self.http.get(self.url("/_emulator/sessions")).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        answer.json::<Value>().await.unwrap()["sessions"].as_array().unwrap().clone()
    }

    /// Waits until the sessions satisfy `done`, and answers them.
    pub async fn sessions_until(&self, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        self.sessions_within(PATIENCE, done).await
    }

    /// Waits up to `patience` until the sessions satisfy `done`, and answers them.
    pub async fn sessions_within(
        &self,
        patience: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let sessions = self.sessions().await;
            if done(&sessions) {
                return sessions;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the sessions never became right: {sessions:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Ingest settings for `live`: authorization on, ingest, publishing and overwrite allowed, with
/// `more` on top.
pub fn settings(more: Value) -> Value {
    let mut settings = json!({"allowStreamIngest": true, "autoStreamPublish": true,
        "allowStreamOverwrite": true, "authorizationEnabled": true});
    settings.as_object_mut().unwrap().extend(more.as_object().unwrap().clone());
    settings
}

/// A `request` authorization service on 127.0.0.1: 200 for the password `right`, 403 otherwise.
pub async fn authorization_service() -> SocketAddr {
    let app = axum::Router::new().fallback(|body: axum::body::Bytes| async move {
        let body: Value = serde_json::from_slice(&body).unwrap();
        if body["credentials"]["password"] == "right" {
            axum::http::StatusCode::OK
        } else {
            axum::http::StatusCode::FORBIDDEN
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

/// A publisher's username and password, as the `publish` operation takes them.
pub fn login(username: &str, password: &str) -> Value {
    json!({"type": "credentials", "username": username, "password": password})
}
