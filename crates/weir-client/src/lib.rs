//! A small async Kafka client on `weir-protocol`: the `weir` tools use it,
//! and the replica fetchers reuse its connections.
//!
//! Every request and response goes through `kafka-protocol`'s codecs; this
//! crate adds framing, version negotiation, routing and batching.
//!
//! # Layout
//!
//! - [`error`]: [`ClientError`] and [`KafkaError`] (a broker's error code,
//!   printed as `NAME: sentence`).
//! - [`frame`]: length-prefixed frames, header versions, response decoding
//!   (pure, no I/O).
//! - [`versions`]: ApiVersions negotiation, KIP-511 fallback (pure).
//! - [`connection`]: one TCP connection: pipelined requests matched by
//!   correlation id, a writer and a reader task.
//! - [`metadata`]: the cached cluster view (brokers, topics, leaders).
//! - [`client`]: [`Client`]: bootstrap, a connection per broker, metadata
//!   refresh and leader routing.
//! - [`producer`]: [`Producer`]: batching, linger, acks, compression, retries.
//! - [`consumer`]: [`Consumer`]: assigned partitions, seek, Fetch, decode.
//! - [`admin`]: [`Admin`]: topics, partitions, configs, cluster.
//!
//! # Known limit
//!
//! `kafka-protocol` 0.18 reserves memory from declared array lengths
//! before reading them; the frame size limit bounds what a broker can
//! send, but not that reservation. Responses are decoded in one place
//! ([`frame::decode_response`]) so a length validator can be put there.

pub mod admin;
pub mod client;
pub mod connection;
pub mod consumer;
pub mod error;
pub mod frame;
pub mod group_consumer;
pub mod metadata;
pub mod producer;
pub mod versions;

pub use admin::Admin;
pub use client::{Client, ClientConfig};
pub use connection::{Connection, ConnectionConfig};
pub use consumer::{Consumer, ConsumerConfig, ConsumerRecord, OffsetSpec};
pub use error::{ClientError, KafkaError, Result};
pub use group_consumer::{GroupConfig, GroupConsumer};
pub use producer::{
    Acks, Compression, DeliveryFuture, Producer, ProducerConfig, ProducerRecord, RecordMetadata,
};
pub use uuid::Uuid;
