//! ApiVersions (key 18): the API keys and version ranges Weir serves.
//!
//! Clients send it first and pick, per API, the highest version both sides
//! support. KIP-511: a client may send a newer ApiVersions version than the
//! broker knows; the broker then answers UNSUPPORTED_VERSION in a v0
//! response that still carries its ranges ([`unsupported_version_response`]).

use super::SUPPORTED_APIS;
use crate::broker::Broker;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, ResponseKind};

/// Answer an ApiVersions request.
pub fn handle(
    _broker: &Broker,
    _request: &ApiVersionsRequest,
    _version: i16,
) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(0)
        .with_api_keys(api_keys())
}

/// The v0 response for an ApiVersions version we do not know (KIP-511).
pub fn unsupported_version_response() -> ResponseKind {
    ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(api_keys())
        .into()
}

fn api_keys() -> Vec<ApiVersion> {
    SUPPORTED_APIS
        .iter()
        .map(|&(key, min, max)| {
            ApiVersion::default()
                .with_api_key(key as i16)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect()
}
