//! Hostile frames against `frame::decode_request`: each is refused or
//! decoded, never a panic, and never an allocation the frame cannot back
//! (an oversized allocation aborts the process, which fails these tests).

mod guard_common;

use bytes::Bytes;
use guard_common::*;
use kafka_protocol::messages::ApiKey;
use proptest::prelude::*;
use weir_broker::frame::{decode_request, FrameError, Malformed};
use weir_broker::guard::{schema, GuardError};

/// The frame from issue 3: a Produce v9 header, then a 12-byte body whose
/// `topic_data` count is the varint `ff ff ff ff 0f` (2^32 - 2 topics once
/// the compact +1 is removed). Unguarded, `kafka-protocol` calls
/// `Vec::with_capacity(4294967294)` of 96-byte `TopicProduceData`: ~412 GB,
/// and the process aborts.
#[test]
fn issue_3_produce_frame_is_refused_before_decoding() {
    let body = [
        0x00, // transactional_id: compact null
        0xff, 0xff, // acks
        0x00, 0x00, 0x75, 0x30, // timeout_ms
        0xff, 0xff, 0xff, 0xff, 0x0f, // topic_data: compact count 2^32 - 1
    ];
    assert_eq!(body.len(), 12);
    let error = decode_request(frame(ApiKey::Produce, 9, 77, &body)).unwrap_err();
    let expected = GuardError::CountTooLarge {
        field: "topic_data",
        offset: 7,
        count: 4_294_967_294,
        remaining: 0,
    };
    assert_eq!(
        error,
        FrameError::Malformed(Malformed::Body {
            api_key: ApiKey::Produce,
            version: 9,
            error: expected
        })
    );
}

/// The same count in every version's encoding, classic and compact.
#[test]
fn huge_produce_topic_counts_are_refused_in_every_version() {
    for version in 3..=11i16 {
        let mut body = vec![0xff, 0xff]; // transactional_id: classic null
        if version >= 9 {
            body = vec![0x00];
        }
        body.extend_from_slice(&[0x00, 0x01, 0x00, 0x00, 0x75, 0x30]);
        match version >= 9 {
            true => body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]),
            false => body.extend_from_slice(&i32::MAX.to_be_bytes()),
        }
        let error = decode_request(frame(ApiKey::Produce, version, 1, &body)).unwrap_err();
        assert!(
            matches!(
                error,
                FrameError::Malformed(Malformed::Body {
                    error: GuardError::CountTooLarge {
                        field: "topic_data",
                        ..
                    },
                    ..
                })
            ),
            "v{version}: {error}"
        );
    }
}

/// `decode_request_header_from_buffer` panics below 4 bytes; we never call
/// it, and anything shorter than the 8-byte header prefix is refused.
#[test]
fn frames_shorter_than_a_header_prefix_are_refused() {
    let prefix = [0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00];
    for len in 0..8 {
        let error = decode_request(Bytes::copy_from_slice(&prefix[..len])).unwrap_err();
        assert_eq!(error, FrameError::Malformed(Malformed::TooShort { len }));
    }
    // ApiVersions v3 with 8 bytes: the header's client id is missing.
    let error = decode_request(Bytes::copy_from_slice(&prefix[..8])).unwrap_err();
    assert!(
        matches!(error, FrameError::Malformed(Malformed::Header { .. })),
        "{error}"
    );
}

#[test]
fn unknown_and_unserved_api_keys_are_named_with_their_correlation_id() {
    for api_key in [
        -1i16,
        93,
        1000,
        ApiKey::SaslHandshake as i16,
        ApiKey::EndTxn as i16,
    ] {
        let mut frame = api_key.to_be_bytes().to_vec();
        frame.extend_from_slice(&[0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0xff, 0xff]);
        let error = decode_request(Bytes::from(frame)).unwrap_err();
        let correlation_id = 42;
        assert_eq!(
            error,
            FrameError::UnknownApiKey {
                api_key,
                correlation_id
            }
        );
    }
}

/// KIP-511: the connection answers an ApiVersions version it does not know
/// with UNSUPPORTED_VERSION, so the error must carry the correlation id
/// even when the rest of the frame is in a format we cannot parse.
#[test]
fn versions_outside_our_ranges_are_unsupported() {
    let cases = [
        (ApiKey::ApiVersions, 5),
        (ApiKey::ApiVersions, -1),
        (ApiKey::Produce, 2),
        (ApiKey::Fetch, 17),
    ];
    for (api_key, version) in cases {
        let mut frame = (api_key as i16).to_be_bytes().to_vec();
        frame.extend_from_slice(&i16::to_be_bytes(version));
        frame.extend_from_slice(&9i32.to_be_bytes());
        frame.extend_from_slice(&[0xff; 3]); // not a header we could read
        let error = decode_request(Bytes::from(frame)).unwrap_err();
        let correlation_id = 9;
        assert_eq!(
            error,
            FrameError::UnsupportedVersion {
                api_key,
                version,
                correlation_id
            }
        );
    }
}

/// Generated valid frames for every supported version, a few per version.
fn valid_frames() -> Vec<(ApiKey, i16, Bytes)> {
    let mut frames = Vec::new();
    for (api, version) in supported() {
        let message = schema::request(api).unwrap();
        for seed in 0..3 {
            let body = generate(message, version, &mut SplitMix::new(seed));
            frames.push((api, version, frame(api, version, 5, &body)));
        }
    }
    frames
}

/// Nothing in a request is optional, so every strict prefix of a valid
/// frame must be refused, and refusing must not panic.
#[test]
fn every_truncation_of_a_valid_request_is_refused() {
    for (api, version, frame) in valid_frames() {
        assert!(decode_request(frame.clone()).is_ok(), "{api:?} v{version}");
        for len in 0..frame.len() {
            let result = decode_request(frame.slice(..len));
            assert!(
                result.is_err(),
                "{api:?} v{version} cut at {len}/{}",
                frame.len()
            );
        }
    }
}

/// Every position overwritten with the largest classic count or length
/// (int32 and int16), and with the largest compact one (a 5-byte varint
/// spliced in): whatever lands on an array count, string or bytes length
/// is refused or fits; nothing aborts or panics.
#[test]
fn huge_counts_at_every_position_never_crash() {
    let spliced: [&[u8]; 3] = [
        &i32::MAX.to_be_bytes(),
        &i16::MAX.to_be_bytes(),
        &[0xff, 0xff, 0xff, 0xff, 0x0f],
    ];
    for (_, _, frame) in valid_frames() {
        for at in 8..frame.len() {
            for huge in spliced {
                let mut hostile = frame.to_vec();
                let end = (at + huge.len()).min(hostile.len());
                hostile.splice(at..end, huge.iter().copied());
                let _ = decode_request(Bytes::from(hostile));
            }
        }
    }
}

/// A frame with a valid, served (api key, version) prefix and anything after.
fn served_prefix() -> impl Strategy<Value = Vec<u8>> {
    let served: Vec<(ApiKey, i16)> = supported().collect();
    (proptest::sample::select(served), any::<i32>()).prop_map(|((api, version), correlation_id)| {
        let mut prefix = (api as i16).to_be_bytes().to_vec();
        prefix.extend_from_slice(&version.to_be_bytes());
        prefix.extend_from_slice(&correlation_id.to_be_bytes());
        prefix
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn random_bytes_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_request(Bytes::from(frame));
    }

    #[test]
    fn random_bodies_behind_a_served_prefix_never_panic(
        prefix in served_prefix(),
        rest in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut frame = prefix;
        frame.extend_from_slice(&rest);
        let _ = decode_request(Bytes::from(frame));
    }

    /// Valid requests with a few bytes changed: the shapes most likely to
    /// get past the guard and into the decoder.
    #[test]
    fn mutated_valid_requests_never_panic(
        which in any::<prop::sample::Index>(),
        seed in any::<u64>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..5),
    ) {
        let served: Vec<(ApiKey, i16)> = supported().collect();
        let (api, version) = served[which.index(served.len())];
        let body = generate(schema::request(api).unwrap(), version, &mut SplitMix::new(seed));
        let mut frame = frame(api, version, 5, &body).to_vec();
        for (at, byte) in edits {
            let at = at.index(frame.len());
            frame[at] = byte;
        }
        let _ = decode_request(Bytes::from(frame));
    }
}
