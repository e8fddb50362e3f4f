//! Group routing through `api::dispatch` on a real single-node broker in a
//! temp dir: FindCoordinator names this broker (the only one) with its
//! registered endpoint, and the group APIs reach the local coordinator.
//! (The NOT_COORDINATOR answers, which need a second broker, are unit
//! tested beside each handler.)

mod broker_common;
use broker_common::Harness;
use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    create_topics_request::CreatableTopic, ApiKey, CreateTopicsRequest, DescribeGroupsRequest,
    FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, OffsetCommitRequest,
    OffsetFetchRequest, ProduceRequest, RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::time::{Duration, Instant};

impl Harness {
    /// FindCoordinator v4 for `group`: (error, node, host, port).
    async fn find(&self, group: &'static str) -> (i16, i32, String, i32) {
        let request = FindCoordinatorRequest::default()
            .with_coordinator_keys(vec![StrBytes::from_static_str(group)]);
        let ResponseKind::FindCoordinator(response) = self
            .call(
                ApiKey::FindCoordinator,
                4,
                RequestKind::FindCoordinator(request),
            )
            .await
        else {
            panic!("not a FindCoordinator response")
        };
        let c = &response.coordinators[0];
        (c.error_code, c.node_id.0, c.host.to_string(), c.port)
    }
}

fn group(id: &'static str) -> GroupId {
    GroupId(StrBytes::from_static_str(id))
}

#[tokio::test]
async fn single_broker_coordinates_and_serves_its_groups() {
    let h = Harness::start_with("").await;
    // Until this broker is registered and unfenced no broker coordinates.
    let deadline = Instant::now() + Duration::from_secs(20);
    let found = loop {
        let found = h.find("g").await;
        if found.0 == 0 {
            break found;
        }
        assert_eq!((found.0, found.1, found.3), (15, -1, -1), "{found:?}");
        assert!(Instant::now() < deadline, "no coordinator: {found:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(h.broker.group_coordinator("g"), Some(1));
    // The coordinator has loaded the group's __consumer_offsets partition
    // (clients retry COORDINATOR_LOAD_IN_PROGRESS; this test waits).
    let deadline = Instant::now() + Duration::from_secs(20);
    for group in ["g", "offsets", "other"] {
        while !h.broker.groups().serves(group) {
            assert!(Instant::now() < deadline, "{group} not loaded");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Clients may not write to the internal topic.
    let produce = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("__consumer_offsets")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from_static(b"garbage")))])]);
    let ResponseKind::Produce(produced) = h
        .call(ApiKey::Produce, 9, RequestKind::Produce(produce))
        .await
    else {
        panic!("not a Produce response")
    };
    let refused = &produced.responses[0].partition_responses[0];
    assert_eq!(
        refused.error_code, 17,
        "INVALID_TOPIC_EXCEPTION: {refused:?}"
    );
    let message = refused.error_message.as_deref().unwrap_or_default();
    assert!(
        message.contains("Cannot append to internal topic __consumer_offsets"),
        "{message}"
    );
    let (host, port) = h.broker.broker_endpoint(1).unwrap();
    assert_eq!(found, (0, 1, host.clone(), port));

    // v0-3: one key.
    let ResponseKind::FindCoordinator(v3) = h
        .call(
            ApiKey::FindCoordinator,
            3,
            RequestKind::FindCoordinator(
                FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("other")),
            ),
        )
        .await
    else {
        panic!()
    };
    assert_eq!(
        (v3.error_code, v3.node_id.0, v3.host.to_string(), v3.port),
        (0, 1, host, port)
    );

    // JoinGroup reaches the local coordinator: a new member must rejoin
    // with its id (KIP-394).
    let join = JoinGroupRequest::default()
        .with_group_id(group("g"))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(StrBytes::from_static_str("range"))
            .with_metadata(Bytes::from_static(b"m"))]);
    let ResponseKind::JoinGroup(joined) = h
        .call(ApiKey::JoinGroup, 9, RequestKind::JoinGroup(join))
        .await
    else {
        panic!()
    };
    assert_eq!(joined.error_code, 79, "{joined:?}");
    assert!(!joined.member_id.is_empty());

    // Heartbeat from an unknown member: the local coordinator's answer.
    let heartbeat = HeartbeatRequest::default()
        .with_group_id(group("g"))
        .with_generation_id(1)
        .with_member_id(StrBytes::from_static_str("nobody"));
    let ResponseKind::Heartbeat(beat) = h
        .call(ApiKey::Heartbeat, 4, RequestKind::Heartbeat(heartbeat))
        .await
    else {
        panic!()
    };
    assert_eq!(beat.error_code, 25);

    // OffsetCommit then OffsetFetch (v8, two groups) round trip.
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_static_str("t")))
        .with_num_partitions(1)
        .with_replication_factor(1);
    h.call(
        ApiKey::CreateTopics,
        7,
        RequestKind::CreateTopics(CreateTopicsRequest::default().with_topics(vec![topic])),
    )
    .await;
    let commit = OffsetCommitRequest::default()
        .with_group_id(group("offsets"))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(42)])]);
    let ResponseKind::OffsetCommit(committed) = h
        .call(ApiKey::OffsetCommit, 8, RequestKind::OffsetCommit(commit))
        .await
    else {
        panic!()
    };
    assert_eq!(committed.topics[0].partitions[0].error_code, 0);
    let wanted = |id: &'static str| {
        OffsetFetchRequestGroup::default()
            .with_group_id(group(id))
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partition_indexes(vec![0])]))
    };
    let fetch = OffsetFetchRequest::default().with_groups(vec![wanted("offsets"), wanted("none")]);
    let ResponseKind::OffsetFetch(fetched) = h
        .call(ApiKey::OffsetFetch, 8, RequestKind::OffsetFetch(fetch))
        .await
    else {
        panic!()
    };
    let got: Vec<(&str, i16, i64)> = fetched
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.0.as_str(),
                g.error_code,
                g.topics[0].partitions[0].committed_offset,
            )
        })
        .collect();
    assert_eq!(got, vec![("offsets", 0, 42), ("none", 0, -1)]);

    // DescribeGroups answers from the local coordinator.
    let describe = DescribeGroupsRequest::default().with_groups(vec![group("g"), group("none")]);
    let ResponseKind::DescribeGroups(described) = h
        .call(
            ApiKey::DescribeGroups,
            5,
            RequestKind::DescribeGroups(describe),
        )
        .await
    else {
        panic!()
    };
    let got: Vec<(&str, i16)> = described
        .groups
        .iter()
        .map(|g| (g.group_id.0.as_str(), g.error_code))
        .collect();
    assert_eq!(got, vec![("g", 0), ("none", 0)]);
    h.broker.shutdown().await.unwrap();
}
