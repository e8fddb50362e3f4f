//! Kafka's topic naming rules (`org.apache.kafka.common.internals.Topic`).

use super::plan_error::PlanError;

/// Longest legal topic name, in UTF-16 units as Java counts (`MAX_NAME_LENGTH`).
pub const MAX_TOPIC_NAME_LENGTH: usize = 249;

/// The KRaft metadata log's own name; no topic may take it (KAFKA-14358).
pub const CLUSTER_METADATA_TOPIC_NAME: &str = "__cluster_metadata";

/// Kafka's internal topics (`Topic.isInternal`): Metadata marks them
/// internal, and clients may not produce to them.
pub fn is_internal_topic(name: &str) -> bool {
    matches!(name, "__consumer_offsets" | "__transaction_state")
}

/// Check a topic name as Kafka 4's `Topic.validate` does, with its
/// messages: not empty, not `.` or `..`, at most 249 characters, only
/// ASCII alphanumerics, `.`, `_` and `-`. The error is
/// INVALID_TOPIC_EXCEPTION (17).
pub fn validate_topic_name(name: &str) -> Result<(), PlanError> {
    match invalid_reason(name) {
        None => Ok(()),
        Some(reason) => Err(PlanError::InvalidTopic(format!(
            "Topic name is invalid: {reason}"
        ))),
    }
}

/// Kafka's `Topic.detectInvalidTopic`.
fn invalid_reason(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the empty string is not allowed".into());
    }
    if name == "." || name == ".." {
        return Some(format!("'{name}' is not allowed"));
    }
    if name.encode_utf16().count() > MAX_TOPIC_NAME_LENGTH {
        return Some(format!(
            "the length of '{name}' is longer than the max allowed length {MAX_TOPIC_NAME_LENGTH}"
        ));
    }
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !name.chars().all(legal) {
        return Some(format!(
            "'{name}' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    None
}

/// Topics whose names differ only in `.` versus `_` collide in Kafka's
/// metric names, so KRaft refuses the second one (`Topic.hasCollision`).
pub fn topic_names_collide(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.replace('.', "_") == b.replace('.', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(name: &str) -> String {
        validate_topic_name(name).unwrap_err().to_string()
    }

    #[test]
    fn legal_names_pass() {
        for name in ["a", "my-topic_1.x", "__consumer_offsets", &"x".repeat(249)] {
            assert_eq!(validate_topic_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn illegal_names_get_kafkas_messages() {
        assert_eq!(
            reason(""),
            "Topic name is invalid: the empty string is not allowed"
        );
        assert_eq!(reason("."), "Topic name is invalid: '.' is not allowed");
        assert_eq!(reason(".."), "Topic name is invalid: '..' is not allowed");
        let long = "x".repeat(250);
        assert_eq!(
            reason(&long),
            format!("Topic name is invalid: the length of '{long}' is longer than the max allowed length 249")
        );
        assert_eq!(
            reason("a b"),
            "Topic name is invalid: 'a b' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
        );
        assert_eq!(validate_topic_name("é").unwrap_err().error_code(), 17);
    }

    #[test]
    fn dot_and_underscore_collide() {
        assert!(topic_names_collide("a.b", "a_b"));
        assert!(topic_names_collide("a.b", "a.b"));
        assert!(!topic_names_collide("a.b", "a-b"));
    }
}
