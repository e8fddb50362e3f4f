//! Producer routing and retries against a scripted fake broker: a batch
//! answered NOT_LEADER_OR_FOLLOWER is retried after a metadata refresh, and
//! every record gets its offset.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, MetadataResponse, ProduceRequest, ProduceResponse, RequestHeader,
    ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use weir_client::{Acks, Client, ClientConfig, Producer, ProducerConfig, ProducerRecord};
use weir_protocol::Offset;

#[derive(Default)]
struct Counts {
    metadata: AtomicUsize,
    produce: AtomicUsize,
}

async fn serve(mut s: TcpStream, port: u16, counts: Arc<Counts>) {
    loop {
        let Ok(len) = s.read_i32().await else { return };
        let mut body = vec![0u8; len as usize];
        if s.read_exact(&mut body).await.is_err() {
            return;
        }
        let mut body = Bytes::from(body);
        let key = ApiKey::try_from(i16::from_be_bytes([body[0], body[1]])).unwrap();
        let version = i16::from_be_bytes([body[2], body[3]]);
        let header = RequestHeader::decode(&mut body, key.request_header_version(version)).unwrap();
        let mut out = BytesMut::new();
        let header_version = if key == ApiKey::ApiVersions {
            0
        } else {
            key.response_header_version(version)
        };
        ResponseHeader::default()
            .with_correlation_id(header.correlation_id)
            .encode(&mut out, header_version)
            .unwrap();
        match key {
            ApiKey::ApiVersions => api_versions().encode(&mut out, version).unwrap(),
            ApiKey::Metadata => {
                counts.metadata.fetch_add(1, Ordering::SeqCst);
                metadata(port).encode(&mut out, version).unwrap()
            }
            ApiKey::Produce => {
                let req = ProduceRequest::decode(&mut body, version).unwrap();
                let records = req.topic_data[0].partition_data[0].records.clone().unwrap();
                let (_, decoded) = weir_protocol::records::decode_batch(&records).unwrap();
                assert_eq!(decoded.len(), 3, "the three records travel as one batch");
                let attempt = counts.produce.fetch_add(1, Ordering::SeqCst);
                let code = if attempt == 0 { 6 } else { 0 };
                produce(code).encode(&mut out, version).unwrap()
            }
            other => panic!("unexpected {other:?}"),
        }
        let mut frame = BytesMut::new();
        frame.put_i32(out.len() as i32);
        frame.extend_from_slice(&out);
        s.write_all(&frame).await.unwrap();
    }
}

fn api_versions() -> ApiVersionsResponse {
    let keys = [
        (ApiKey::ApiVersions, 0, 3),
        (ApiKey::Metadata, 0, 12),
        (ApiKey::Produce, 3, 11),
    ];
    ApiVersionsResponse::default().with_api_keys(
        keys.iter()
            .map(|&(k, min, max)| {
                ApiVersion::default()
                    .with_api_key(k as i16)
                    .with_min_version(min)
                    .with_max_version(max)
            })
            .collect(),
    )
}

fn metadata(port: u16) -> MetadataResponse {
    let partition = MetadataResponsePartition::default()
        .with_partition_index(0)
        .with_leader_id(1.into())
        .with_replica_nodes(vec![1.into()])
        .with_isr_nodes(vec![1.into()]);
    MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(1.into())
            .with_host(StrBytes::from_static_str("127.0.0.1"))
            .with_port(i32::from(port))])
        .with_controller_id(1.into())
        .with_topics(vec![MetadataResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
            .with_partitions(vec![partition])])
}

fn produce(error_code: i16) -> ProduceResponse {
    let p = PartitionProduceResponse::default()
        .with_index(0)
        .with_error_code(error_code)
        .with_base_offset(if error_code == 0 { 100 } else { -1 })
        .with_log_append_time_ms(-1);
    ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
        .with_name(TopicName(StrBytes::from_static_str("t")))
        .with_partition_responses(vec![p])])
}

#[tokio::test]
async fn not_leader_is_retried_after_a_metadata_refresh() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let counts = Arc::new(Counts::default());
    let c = Arc::clone(&counts);
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(serve(s, port, Arc::clone(&c)));
        }
    });
    let client = Client::connect(ClientConfig::new(&format!("127.0.0.1:{port}")))
        .await
        .unwrap();
    let config = ProducerConfig {
        acks: Acks::Leader,
        linger_ms: 50,
        retry_backoff_ms: 10,
        ..ProducerConfig::default()
    };
    let producer = Producer::new(client, config);
    let mut deliveries = Vec::new();
    for i in 0..3 {
        let record = ProducerRecord::new("t", format!("v{i}")).with_partition(0);
        deliveries.push(producer.send(record).await.unwrap());
    }
    for (i, d) in deliveries.into_iter().enumerate() {
        let meta = tokio::time::timeout(Duration::from_secs(10), d)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(meta.offset, Some(Offset(100 + i as i64)));
    }
    assert_eq!(
        counts.produce.load(Ordering::SeqCst),
        2,
        "one failure, one retry"
    );
    let metadata_before_close = counts.metadata.load(Ordering::SeqCst);
    assert!(
        metadata_before_close >= 2,
        "the bootstrap lookup, then a refresh after NOT_LEADER_OR_FOLLOWER"
    );
    producer.close().await.unwrap();
}
