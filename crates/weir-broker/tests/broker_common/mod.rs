//! An in-process single-node broker in a temp dir for tests that drive
//! `api::dispatch` directly (no sockets): ports 0, so tests run in
//! parallel.

#![allow(dead_code)]

use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};
use std::sync::Arc;
use weir_broker::api::{dispatch, Outcome};
use weir_broker::broker::Broker;
use weir_broker::config::BrokerConfig;
use weir_broker::frame::Request;

/// A started broker (node 1) and the temp dir its logs live in.
pub struct Harness {
    pub broker: Arc<Broker>,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// Start node 1 with `extra` `server.properties` lines (each ending in
    /// a newline); a configuration warning fails the test.
    pub async fn start_with(extra: &str) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "node.id=1\nlog.dirs={}\nlisteners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0\n{extra}",
            dir.path().display()
        );
        let (config, warnings) = BrokerConfig::parse(&text, &[]).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let broker = Broker::start(config).await.unwrap();
        Harness { broker, _dir: dir }
    }

    /// Send one request through `api::dispatch` and return its response.
    pub async fn call(&self, api_key: ApiKey, version: i16, body: RequestKind) -> ResponseKind {
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(7);
        let request = Request {
            api_key,
            header,
            body,
        };
        match dispatch(&self.broker, request).await {
            Outcome::Respond(response) => *response,
            other => panic!("expected a response, got {other:?}"),
        }
    }
}
