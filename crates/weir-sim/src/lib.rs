//! The deterministic simulator (tests only, never shipped in the binary).
//!
//! # Layout
//!
//! Nothing yet; the replication issue adds a seeded simulator over
//! `weir-core` and `weir-storage`'s fault-injecting in-memory files here.
