//! Weir's pure state machines (no I/O, no clocks, no tasks).
//!
//! # Layout
//!
//! Nothing yet. The cluster and replication issues add `partition`
//! (leader/follower, ISR, high watermark, ELR, epoch truncation), `metadata`
//! (cluster image, assignment, elections) and `group` here, each shaped as
//! `step(event, now_ms) -> Vec<Action>` (see DESIGN.md section 2).
