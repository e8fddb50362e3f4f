//! The Weir broker node: network server, request handlers, replica fetchers.
//!
//! # Layout
//!
//! Nothing yet; the single-broker issue adds the tokio server here, which
//! applies `weir-core`'s actions to `weir-storage`.
