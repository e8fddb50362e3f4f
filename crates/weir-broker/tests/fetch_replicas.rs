//! Fetch on a real single-node broker, through `api::dispatch`: a fetch
//! that claims a replica id is served only for a broker that is a replica
//! of the partition, and a fetcher whose last fetched epoch shows a
//! divergent log gets a diverging epoch at once, with no records.

mod broker_common;
use broker_common::Harness;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{
    create_topics_request::CreatableTopic, ApiKey, BrokerId, CreateTopicsRequest, FetchRequest,
    RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::time::Duration;

impl Harness {
    async fn start() -> Harness {
        let h = Harness::start_with("").await;
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
        h
    }

    /// Fetch v12 of t-0 (bounded: a fetch that long-polls for its full
    /// 60 s instead of answering fails the test).
    async fn fetch(
        &self,
        replica_id: i32,
        fetch_offset: i64,
        last_fetched_epoch: i32,
    ) -> PartitionData {
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(replica_id))
            .with_replica_state(ReplicaState::default().with_replica_id(BrokerId(-1)))
            .with_max_wait_ms(60_000)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(fetch_offset)
                    .with_last_fetched_epoch(last_fetched_epoch)
                    .with_partition_max_bytes(1 << 20)])]);
        let call = self.call(ApiKey::Fetch, 12, RequestKind::Fetch(request));
        let ResponseKind::Fetch(response) = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("the fetch should be answered at once")
        else {
            panic!("not a Fetch response")
        };
        response.responses[0].partitions[0].clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_replicas_may_fetch_as_replicas() {
    let h = Harness::start().await;
    // Broker 5 does not exist; broker 1 is the leader itself.
    assert_eq!(h.fetch(5, 0, -1).await.error_code, 6);
    assert_eq!(h.fetch(1, 0, -1).await.error_code, 6);
    h.broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_divergent_fetcher_gets_the_epoch_end_at_once() {
    let h = Harness::start().await;
    let epoch = h.broker.leader_partition("t", 0).unwrap().leader_epoch().0;
    // The log is empty: this epoch ends at 0 here, so a fetcher that
    // claims records of it up to 5 has a divergent tail.
    let p = h.fetch(-1, 5, epoch).await;
    assert_eq!(p.error_code, 0);
    assert_eq!(
        (p.diverging_epoch.epoch, p.diverging_epoch.end_offset),
        (epoch, 0)
    );
    assert_eq!(p.records.map(|r| r.len()), Some(0));
    // (An epoch above every epoch of this log is undefined, which the
    // wire cannot carry: that fetch reads as usual; see the unit test of
    // `Partition::diverging_epoch`.)
    h.broker.shutdown().await.unwrap();
}
