//! Per-topic log settings, with Kafka's topic-config names and defaults
//! (`kafka.server.LogConfig` / `TopicConfig`).

use thiserror::Error;

/// One week in milliseconds, Kafka's default `segment.ms` and `retention.ms`.
const WEEK_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// A topic config value Weir cannot use.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("invalid value {value:?} for topic config {key}: {reason}")]
pub struct ConfigError {
    /// Kafka's name of the setting, e.g. `segment.bytes`.
    pub key: String,
    /// The value given.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// How a partition's log is segmented, indexed, retained and flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll when the active segment would grow past this.
    /// Kafka stores positions as Java `int`s, so at most `i32::MAX`.
    pub segment_bytes: u32,
    /// `segment.ms`: roll when the active segment's first batch is older
    /// than this (by record timestamps, as Kafka measures it).
    pub segment_ms: i64,
    /// `segment.index.bytes`: largest size of each index file; a full
    /// index rolls the segment.
    pub segment_index_bytes: u32,
    /// `index.interval.bytes`: bytes between offset-index entries.
    pub index_interval_bytes: u32,
    /// `retention.ms`: delete segments whose largest timestamp is older;
    /// −1 keeps them forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete the oldest segments while the log is
    /// larger; −1 means no limit.
    pub retention_bytes: i64,
    /// `flush.messages`: fsync after this many unflushed records; `None`
    /// (Kafka's `Long.MAX_VALUE` default) leaves it to replication.
    pub flush_messages: Option<u64>,
    /// `flush.ms`: fsync when the last flush is this old; `None` is never.
    pub flush_ms: Option<i64>,
    /// `max.message.bytes`: largest batch a producer may append (followers
    /// are exempt, as in Kafka, so replication never stalls on it).
    pub max_message_bytes: u32,
    /// `cleanup.policy` includes `delete`: `retention.ms` and
    /// `retention.bytes` apply. A `compact`-only log keeps every segment
    /// (Weir has no log cleaner yet, so nothing is compacted either).
    pub cleanup_delete: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: WEEK_MS,
            segment_index_bytes: 10 << 20,
            index_interval_bytes: 4096,
            retention_ms: WEEK_MS,
            retention_bytes: -1,
            flush_messages: None,
            flush_ms: None,
            max_message_bytes: 1_048_588,
            cleanup_delete: true,
        }
    }
}

impl LogConfig {
    /// Check the ranges Kafka enforces (`LogConfig.configDef`), loosened
    /// only where Weir needs nothing tighter.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, value: String, reason| {
            Err(ConfigError {
                key: key.to_string(),
                value,
                reason,
            })
        };
        if self.segment_bytes == 0 || self.segment_bytes > i32::MAX as u32 {
            return bad(
                "segment.bytes",
                self.segment_bytes.to_string(),
                "must be in 1..=2147483647",
            );
        }
        if self.segment_ms < 1 {
            return bad(
                "segment.ms",
                self.segment_ms.to_string(),
                "must be at least 1",
            );
        }
        if self.segment_index_bytes < 4 || self.segment_index_bytes > i32::MAX as u32 {
            return bad(
                "segment.index.bytes",
                self.segment_index_bytes.to_string(),
                "must be in 4..=2147483647",
            );
        }
        if self.index_interval_bytes > i32::MAX as u32 {
            return bad(
                "index.interval.bytes",
                self.index_interval_bytes.to_string(),
                "too large",
            );
        }
        if self.retention_ms < -1 {
            return bad(
                "retention.ms",
                self.retention_ms.to_string(),
                "must be -1 or more",
            );
        }
        if self.flush_ms.is_some_and(|ms| ms < 0) {
            return bad(
                "flush.ms",
                format!("{:?}", self.flush_ms),
                "must not be negative",
            );
        }
        Ok(())
    }

    /// Set one topic config by its Kafka name (`segment.bytes=16384`).
    /// Returns `Ok(false)` for a key that is not a log setting (the caller
    /// decides whether that is a warning), an error for a bad value.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        let err = |reason| ConfigError {
            key: key.to_string(),
            value: value.to_string(),
            reason,
        };
        let int = || {
            value
                .trim()
                .parse::<i64>()
                .map_err(|_| err("not an integer"))
        };
        let size = || u32::try_from(int()?).map_err(|_| err("out of range"));
        let never_if_max = |v: i64| (v != i64::MAX).then_some(v);
        let mut next = *self;
        match key {
            "segment.bytes" => next.segment_bytes = size()?,
            "segment.ms" => next.segment_ms = int()?,
            "segment.index.bytes" => next.segment_index_bytes = size()?,
            "index.interval.bytes" => next.index_interval_bytes = size()?,
            "retention.ms" => next.retention_ms = int()?,
            "retention.bytes" => next.retention_bytes = int()?,
            "max.message.bytes" => next.max_message_bytes = size()?,
            "flush.messages" => {
                let v = never_if_max(int()?);
                next.flush_messages = v
                    .map(|v| u64::try_from(v).map_err(|_| err("must not be negative")))
                    .transpose()?;
            }
            "flush.ms" => next.flush_ms = never_if_max(int()?),
            "cleanup.policy" => {
                let policies: Vec<&str> = value.split(',').map(str::trim).collect();
                if policies.iter().any(|p| !matches!(*p, "delete" | "compact")) {
                    return Err(err("not a list of delete and compact"));
                }
                next.cleanup_delete = policies.contains(&"delete");
            }
            _ => return Ok(false),
        }
        next.validate().map_err(|e| err(e.reason))?;
        *self = next;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas() {
        let c = LogConfig::default();
        assert_eq!(c.segment_bytes, 1_073_741_824);
        assert_eq!(c.segment_ms, 604_800_000);
        assert_eq!(c.segment_index_bytes, 10_485_760);
        assert_eq!(c.index_interval_bytes, 4096);
        assert_eq!(c.retention_ms, 604_800_000);
        assert_eq!(c.retention_bytes, -1);
        assert_eq!(c.flush_messages, None);
        assert_eq!(c.flush_ms, None);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn set_by_kafka_name() {
        let mut c = LogConfig::default();
        assert_eq!(c.set("segment.bytes", "16384"), Ok(true));
        assert_eq!(c.set("index.interval.bytes", "1024"), Ok(true));
        assert_eq!(c.set("flush.messages", "9223372036854775807"), Ok(true));
        assert_eq!(c.set("flush.ms", "1000"), Ok(true));
        assert_eq!(c.set("cleanup.policy", "compact"), Ok(true));
        assert!(!c.cleanup_delete);
        assert_eq!(c.set("cleanup.policy", "compact, delete"), Ok(true));
        assert!(c.cleanup_delete);
        assert!(c.set("cleanup.policy", "tidy").is_err());
        assert_eq!(c.set("compression.type", "producer"), Ok(false));
        assert_eq!((c.segment_bytes, c.index_interval_bytes), (16384, 1024));
        assert_eq!((c.flush_messages, c.flush_ms), (None, Some(1000)));
        assert!(c.set("segment.bytes", "0").is_err());
        assert!(c.set("segment.bytes", "x").is_err());
        assert!(c.set("retention.ms", "-2").is_err());
    }
}
