//! A scripted HTTP server on 127.0.0.1 for the client tests: it records every request and answers
//! with the responses queued for it, in order.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use serde_json::Value;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().unwrap())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

struct Scripted {
    status: StatusCode,
    headers: Vec<(&'static str, String)>,
    content_type: &'static str,
    body: String,
}

#[derive(Clone, Default)]
struct State {
    recorded: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<VecDeque<Scripted>>>,
}

pub struct TestServer {
    pub url: String,
    state: State,
}

impl TestServer {
    pub async fn start() -> Self {
        let state = State::default();
        let handler_state = state.clone();
        let app = axum::Router::new().fallback(move |request: Request<Body>| {
            let state = handler_state.clone();
            async move { answer(state, request).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        TestServer { url, state }
    }

    /// Queues the next answer.
    pub fn respond(&self, status: u16, body: Value) -> &Self {
        self.respond_with_headers(status, &[], body)
    }

    pub fn respond_with_headers(
        &self,
        status: u16,
        headers: &[(&'static str, &str)],
        body: Value,
    ) -> &Self {
        self.state.script.lock().unwrap().push_back(Scripted {
            status: StatusCode::from_u16(status).unwrap(),
            headers: headers.iter().map(|(name, value)| (*name, value.to_string())).collect(),
            content_type: "application/json",
            body: body.to_string(),
        });
        self
    }

    /// Queues a `text/plain` answer, as a proxy in front of a service may give.
    pub fn respond_text(&self, status: u16, body: &str) -> &Self {
        self.state.script.lock().unwrap().push_back(Scripted {
            status: StatusCode::from_u16(status).unwrap(),
            headers: Vec::new(),
            content_type: "text/plain",
            body: body.to_owned(),
        });
        self
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.recorded.lock().unwrap().clone()
    }

    pub fn only_request(&self) -> Recorded {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "expected one request, got {requests:#?}");
        requests.into_iter().next().unwrap()
    }
}

async fn answer(state: State, request: Request<Body>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    state.recorded.lock().unwrap().push(Recorded {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
    });
    let Some(scripted) = state.script.lock().unwrap().pop_front() else {
        return Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(Body::from("the test queued no response for this request"))
            .unwrap();
    };
    let mut response = Response::builder().status(scripted.status);
    for (name, value) in scripted.headers {
        response =
            response.header(HeaderName::from_static(name), HeaderValue::from_str(&value).unwrap());
    }
    response.header("content-type", scripted.content_type).body(Body::from(scripted.body)).unwrap()
}
