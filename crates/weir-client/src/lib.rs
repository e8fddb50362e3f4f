//! A small async Kafka client on `weir-protocol`.
//!
//! # Layout
//!
//! Nothing yet; the single-broker issue adds connections, a metadata cache,
//! a producer, a consumer and an admin client here.
