//! API version negotiation, without I/O.
//!
//! On connect the client asks the broker for its version ranges
//! (ApiVersions) and from then on sends each API at the highest version
//! both sides support, as every Kafka client does. A broker too new for
//! our ApiVersions request answers UNSUPPORTED_VERSION with a v0 body
//! carrying its ranges, and we retry at its highest version (KIP-511).

use crate::error::{ClientError, KafkaError, Result};
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};
use kafka_protocol::protocol::{Decodable, VersionRange};
use std::collections::HashMap;

/// The version ranges one broker supports, by API key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiVersionTable {
    ranges: HashMap<i16, (i16, i16)>,
}

impl ApiVersionTable {
    /// The table from an ApiVersions response.
    pub fn from_response(resp: &ApiVersionsResponse) -> ApiVersionTable {
        let ranges = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        ApiVersionTable { ranges }
    }

    /// The broker's range for `api`, if it supports it at all.
    pub fn broker_range(&self, api: ApiKey) -> Option<VersionRange> {
        self.ranges
            .get(&(api as i16))
            .map(|&(min, max)| VersionRange { min, max })
    }

    /// The highest version of `api` in both `ours` and the broker's range.
    pub fn negotiate(&self, api: ApiKey, ours: VersionRange) -> Result<i16> {
        let theirs = self.broker_range(api);
        match theirs.map(|t| t.intersect(&ours)) {
            Some(both) if !both.is_empty() => Ok(both.max),
            _ => Err(ClientError::UnsupportedVersion {
                api: format!("{api:?}"),
                ours: ours.to_string(),
                theirs: theirs.map_or_else(|| "none".to_owned(), |t| t.to_string()),
            }),
        }
    }
}

/// What to do with one ApiVersions answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiVersionsOutcome {
    /// The broker's table; negotiation is done.
    Table(ApiVersionTable),
    /// The broker did not accept our version; ask again at this one.
    RetryAt(i16),
}

/// Interpret an ApiVersions response body sent for our request at
/// `version`. A broker that refuses `version` answers in v0 format
/// (KIP-511), so on a decode failure or UNSUPPORTED_VERSION the body is
/// read again as v0.
pub fn interpret_api_versions(body: Bytes, version: i16) -> Result<ApiVersionsOutcome> {
    let parsed = ApiVersionsResponse::decode(&mut body.clone(), version).ok();
    let resp = match parsed {
        Some(r) if r.error_code != ResponseError::UnsupportedVersion.code() => r,
        _ => ApiVersionsResponse::decode(&mut body.clone(), 0)
            .map_err(|e| ClientError::Protocol(format!("ApiVersions response: {e}")))?,
    };
    if resp.error_code == ResponseError::UnsupportedVersion.code() {
        return retry_version(&resp, version);
    }
    if let Some(e) = KafkaError::from_code(resp.error_code, None) {
        return Err(e.into());
    }
    Ok(ApiVersionsOutcome::Table(ApiVersionTable::from_response(
        &resp,
    )))
}

/// The ApiVersions version to retry at: the broker's highest, if lower than
/// what we tried (anything else would loop).
fn retry_version(resp: &ApiVersionsResponse, tried: i16) -> Result<ApiVersionsOutcome> {
    let table = ApiVersionTable::from_response(resp);
    let theirs = table.broker_range(ApiKey::ApiVersions);
    match theirs {
        Some(r) if r.max < tried && r.max >= 0 => Ok(ApiVersionsOutcome::RetryAt(r.max)),
        _ => Err(ClientError::UnsupportedVersion {
            api: "ApiVersions".to_owned(),
            ours: format!("0..{tried}"),
            theirs: theirs.map_or_else(|| "none".to_owned(), |t| t.to_string()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::protocol::Encodable;

    fn canned(ranges: &[(ApiKey, i16, i16)], error_code: i16) -> ApiVersionsResponse {
        let keys = ranges
            .iter()
            .map(|&(k, min, max)| {
                ApiVersion::default()
                    .with_api_key(k as i16)
                    .with_min_version(min)
                    .with_max_version(max)
            })
            .collect();
        ApiVersionsResponse::default()
            .with_error_code(error_code)
            .with_api_keys(keys)
    }

    fn encoded(resp: &ApiVersionsResponse, version: i16) -> Bytes {
        let mut buf = BytesMut::new();
        resp.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    #[test]
    fn picks_the_highest_common_version() {
        let resp = canned(
            &[
                (ApiKey::Fetch, 4, 12),
                (ApiKey::Produce, 3, 20),
                (ApiKey::Metadata, 0, 13),
            ],
            0,
        );
        let ApiVersionsOutcome::Table(t) = interpret_api_versions(encoded(&resp, 3), 3).unwrap()
        else {
            panic!("expected a table");
        };
        assert_eq!(
            t.negotiate(ApiKey::Fetch, VersionRange { min: 4, max: 18 })
                .unwrap(),
            12
        );
        // The broker is newer than us: our maximum wins.
        assert_eq!(
            t.negotiate(ApiKey::Produce, VersionRange { min: 3, max: 13 })
                .unwrap(),
            13
        );
        assert_eq!(
            t.negotiate(ApiKey::Metadata, VersionRange { min: 0, max: 9 })
                .unwrap(),
            9
        );
    }

    #[test]
    fn no_overlap_or_missing_api_is_unsupported_version() {
        let t = ApiVersionTable::from_response(&canned(&[(ApiKey::Fetch, 0, 3)], 0));
        let err = t
            .negotiate(ApiKey::Fetch, VersionRange { min: 4, max: 18 })
            .unwrap_err();
        assert!(
            err.to_string().starts_with("UNSUPPORTED_VERSION: "),
            "{err}"
        );
        assert!(t
            .negotiate(ApiKey::CreateTopics, VersionRange { min: 2, max: 7 })
            .is_err());
    }

    #[test]
    fn kip_511_fallback_retries_at_the_brokers_max() {
        // A broker that only speaks ApiVersions v0..2 answers our v4 in v0.
        let resp = canned(&[(ApiKey::ApiVersions, 0, 2)], 35);
        let outcome = interpret_api_versions(encoded(&resp, 0), 4).unwrap();
        assert_eq!(outcome, ApiVersionsOutcome::RetryAt(2));
        // Never loops upwards.
        let resp = canned(&[(ApiKey::ApiVersions, 0, 4)], 35);
        assert!(interpret_api_versions(encoded(&resp, 0), 4).is_err());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(interpret_api_versions(Bytes::from_static(&[1, 2, 3]), 3).is_err());
    }
}
