//! The walker's rules one by one, on hand-written bytes. The whole
//! descriptions are proven against `kafka-protocol` in `tests/guard_*.rs`.

use super::*;

/// ApiVersions v3 (flexible): two compact strings, then tagged fields.
fn api_versions_v3(name: &[u8], version: &[u8], tagged: &[u8]) -> Vec<u8> {
    [name, version, tagged].concat()
}

/// Fetch v12 up to its top-level tagged-field section, no topics.
fn fetch_v12_fixed_part() -> Vec<u8> {
    let mut body = vec![0xff, 0xff, 0xff, 0xff]; // replica_id
    body.extend_from_slice(&[0; 12]); // max_wait_ms, min_bytes, max_bytes
    body.push(0); // isolation_level
    body.extend_from_slice(&[0; 8]); // session_id, session_epoch
    body.extend_from_slice(&[0x01, 0x01, 0x01]); // topics, forgotten, rack_id
    body
}

#[test]
fn a_well_formed_body_walks_to_its_end() {
    let body = api_versions_v3(b"\x04abc", b"\x021", b"\x00");
    assert_eq!(walk_request(ApiKey::ApiVersions, 3, &body), Ok(body.len()));
}

#[test]
fn bytes_after_the_body_are_not_part_of_it() {
    let body = api_versions_v3(b"\x01", b"\x01", b"\x00\xff\xff");
    assert_eq!(walk_request(ApiKey::ApiVersions, 3, &body), Ok(3));
}

#[test]
fn a_varint_longer_than_five_bytes_is_refused() {
    let body = api_versions_v3(b"\x80\x80\x80\x80\x80\x01", b"", b"");
    let expected = GuardError::VarintTooLong {
        field: "client_software_name",
        offset: 0,
    };
    assert_eq!(check_request(ApiKey::ApiVersions, 3, &body), Err(expected));
}

#[test]
fn a_length_past_the_end_is_refused() {
    let body = api_versions_v3(b"\xff\xff\xff\xff\x0f", b"", b"");
    let expected = GuardError::InvalidLength {
        field: "client_software_name",
        offset: 0,
        length: 0xffff_fffe,
    };
    assert_eq!(check_request(ApiKey::ApiVersions, 3, &body), Err(expected));
    let body = api_versions_v3(b"\x05ab", b"", b"");
    let expected = GuardError::Truncated {
        field: "client_software_name",
        offset: 1,
        needed: 4,
        remaining: 2,
    };
    assert_eq!(check_request(ApiKey::ApiVersions, 3, &body), Err(expected));
}

/// Kafka refuses strings over 32767 bytes even when the frame holds them.
#[test]
fn a_string_over_kafkas_limit_is_refused() {
    let mut body = vec![0x81, 0x80, 0x02]; // compact length 0x8000 + 1
    body.extend_from_slice(&[b'a'; 0x8000]);
    body.extend_from_slice(b"\x01\x00");
    let result = check_request(ApiKey::ApiVersions, 3, &body);
    assert!(
        matches!(
            result,
            Err(GuardError::InvalidLength { length: 0x8000, .. })
        ),
        "{result:?}"
    );
}

#[test]
fn a_negative_classic_length_other_than_null_is_refused() {
    // Heartbeat v0: group_id (int16 length) first.
    let body = [0xff, 0xfe];
    let expected = GuardError::InvalidLength {
        field: "group_id",
        offset: 0,
        length: -2,
    };
    assert_eq!(check_request(ApiKey::Heartbeat, 0, &body), Err(expected));
}

#[test]
fn an_array_count_beyond_the_bytes_left_is_refused_before_its_elements() {
    // DescribeGroups v0: groups, an array of strings, count 3 with 2 bytes left.
    let body = [0x00, 0x00, 0x00, 0x03, 0x00, 0x00];
    let expected = GuardError::CountTooLarge {
        field: "groups",
        offset: 0,
        count: 3,
        remaining: 2,
    };
    assert_eq!(
        check_request(ApiKey::DescribeGroups, 0, &body),
        Err(expected)
    );
}

#[test]
fn fixed_width_elements_must_all_be_there() {
    // CreatePartitions v0, one topic whose assignment claims 3 broker ids
    // but carries one.
    let mut body = vec![0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2]; // topics[1]: name "t", count
    body.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 3]); // assignments[1]: broker_ids[3]
    body.extend_from_slice(&[0, 0, 0, 7, 0, 0, 0, 0, 0]);
    let result = check_request(ApiKey::CreatePartitions, 0, &body);
    assert!(
        matches!(
            result,
            Err(GuardError::Truncated {
                field: "broker_ids",
                needed: 12,
                ..
            })
        ),
        "{result:?}"
    );
}

#[test]
fn unknown_tags_are_skipped() {
    let mut body = fetch_v12_fixed_part();
    body.extend_from_slice(&[0x02, 0x05, 0x02, 0xaa, 0xbb, 0x06, 0x00]); // tags 5 and 6
    assert_eq!(walk_request(ApiKey::Fetch, 12, &body), Ok(body.len()));
}

#[test]
fn a_known_tag_must_fill_exactly_its_size() {
    let mut body = fetch_v12_fixed_part();
    body.extend_from_slice(&[0x01, 0x00, 0x04, 0x02, b'c', 0x00, 0x00]); // cluster_id "c" in 4 bytes
    let expected = GuardError::TaggedSizeMismatch {
        field: "cluster_id",
        size: 4,
        used: 2,
    };
    assert_eq!(check_request(ApiKey::Fetch, 12, &body), Err(expected));
}

#[test]
fn a_known_tag_outside_its_versions_is_refused() {
    let mut body = fetch_v12_fixed_part();
    body.extend_from_slice(&[0x01, 0x01, 0x0d]); // replica_state is v15+
    body.extend_from_slice(&[0; 13]);
    let expected = GuardError::TagNotValid {
        field: "replica_state",
        tag: 1,
        version: 12,
    };
    assert_eq!(check_request(ApiKey::Fetch, 12, &body), Err(expected));
}

#[test]
fn a_huge_tagged_field_count_is_refused() {
    let mut body = fetch_v12_fixed_part();
    body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    let result = check_request(ApiKey::Fetch, 12, &body);
    assert!(
        matches!(
            result,
            Err(GuardError::CountTooLarge {
                field: TAGGED_FIELDS,
                ..
            })
        ),
        "{result:?}"
    );
}

#[test]
fn undescribed_apis_versions_and_headers_are_refused() {
    let unknown = |api_key, version| Err(GuardError::UnknownRequest { api_key, version });
    assert_eq!(
        check_request(ApiKey::SaslHandshake, 1, &[]),
        unknown(ApiKey::SaslHandshake, 1)
    );
    assert_eq!(
        check_request(ApiKey::Produce, 2, &[]),
        unknown(ApiKey::Produce, 2)
    );
    assert_eq!(
        check_request(ApiKey::Produce, 14, &[]),
        unknown(ApiKey::Produce, 14)
    );
    assert_eq!(
        walk_header(0, &[0; 8]),
        Err(GuardError::UnknownHeader { version: 0 })
    );
}

#[test]
fn header_v2_client_id_stays_a_classic_string() {
    // api key, version, correlation id, client_id "ab" (int16 length), no tags.
    let header = [0, 18, 0, 3, 0, 0, 0, 1, 0, 2, b'a', b'b', 0x00];
    assert_eq!(walk_header(2, &header), Ok(header.len()));
    assert_eq!(walk_header(1, &header), Ok(header.len() - 1));
}
