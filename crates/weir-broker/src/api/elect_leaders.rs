//! ElectLeaders (key 43, v0-2): elect the preferred leader of the given
//! partitions, or of every partition when `topic_partitions` is null.
//!
//! The active controller plans and commits the `PartitionChange`s
//! (`ControllerOp::ElectLeaders`); once this broker's image has applied
//! them, every partition's result is read from that image
//! ([`preferred_election_results`]): a partition changed by the commit was
//! elected, the others say why not. Topic names unknown to this broker are
//! answered UNKNOWN_TOPIC_OR_PARTITION without asking the controller.
//! Unclean election (type 1) elects, for leaderless partitions only, by
//! the controller's order and else any live replica
//! (`plan_unclean_election`, results by `unclean_election_results`).

use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;
use uuid::Uuid;
use weir_core::metadata::{
    preferred_election_results, unclean_election_results, ControllerOp, ElectionResult,
    ElectionType, MetadataImage,
};

/// UNKNOWN_TOPIC_OR_PARTITION.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// INVALID_REQUEST.
const INVALID_REQUEST: i16 = 42;

/// Handle an ElectLeaders request.
pub async fn handle(broker: &Arc<Broker>, request: ElectLeadersRequest, version: i16) -> Outcome {
    let mut answer = Answer::default();
    let election_type = match request.election_type {
        0 => ElectionType::Preferred,
        1 => ElectionType::Unclean,
        other => {
            let message = format!("Unknown election type {other}");
            return Outcome::respond(answer.refused(&request, INVALID_REQUEST, &message, version));
        }
    };
    let image = broker.image();
    let partitions = request
        .topic_partitions
        .as_ref()
        .map(|topics| answer.resolve(&image, topics));
    let op = ControllerOp::ElectLeaders {
        election_type,
        partitions: partitions.clone(),
    };
    match broker.commit_op(op).await {
        Ok(records) => {
            let image = broker.image();
            let results = match election_type {
                ElectionType::Preferred => {
                    preferred_election_results(&image, partitions.as_deref(), &records)
                }
                ElectionType::Unclean => {
                    unclean_election_results(&image, partitions.as_deref(), &records)
                }
            };
            for result in results {
                answer.add_result(&image, &result);
            }
            Outcome::respond(answer.response())
        }
        Err(e) => {
            let message = e.to_string();
            Outcome::respond(answer.refused(&request, e.error_code(), &message, version))
        }
    }
}

/// The response being built: topics in first-seen order.
#[derive(Default)]
struct Answer {
    topics: Vec<(String, Vec<PartitionResult>)>,
    /// Names of the topics resolved from the request, by id.
    names: Vec<(Uuid, String)>,
}

impl Answer {
    /// The (topic id, partition) pairs of the known topics; the partitions
    /// of unknown topic names are answered here.
    fn resolve(
        &mut self,
        image: &MetadataImage,
        topics: &[kafka_protocol::messages::elect_leaders_request::TopicPartitions],
    ) -> Vec<(Uuid, i32)> {
        let mut pairs = Vec::new();
        for topic in topics {
            let name = topic.topic.0.as_str();
            match image.topic_by_name(name) {
                Some(t) => {
                    self.names.push((t.topic_id, name.to_string()));
                    self.topic(name);
                    pairs.extend(topic.partitions.iter().map(|p| (t.topic_id, *p)));
                }
                None => {
                    let message = format!("No such topic as {name}");
                    for &p in &topic.partitions {
                        self.push(
                            name,
                            partition_result(p, UNKNOWN_TOPIC_OR_PARTITION, Some(&message)),
                        );
                    }
                }
            }
        }
        pairs
    }

    fn add_result(&mut self, image: &MetadataImage, result: &ElectionResult) {
        let name = self
            .names
            .iter()
            .find(|(id, _)| *id == result.topic_id)
            .map(|(_, n)| n.clone())
            .or_else(|| image.topic(&result.topic_id).map(|t| t.name.clone()))
            .unwrap_or_else(|| result.topic_id.to_string());
        let code = result.outcome.error_code();
        self.push(
            &name,
            partition_result(result.partition, code, result.message.as_deref()),
        );
    }

    fn topic(&mut self, name: &str) -> &mut Vec<PartitionResult> {
        let at = match self.topics.iter().position(|(n, _)| n == name) {
            Some(at) => at,
            None => {
                self.topics.push((name.to_string(), Vec::new()));
                self.topics.len() - 1
            }
        };
        &mut self.topics[at].1
    }

    fn push(&mut self, name: &str, result: PartitionResult) {
        self.topic(name).push(result);
    }

    fn response(self) -> ElectLeadersResponse {
        let results = self
            .topics
            .into_iter()
            .map(|(name, partitions)| {
                ReplicaElectionResult::default()
                    .with_topic(TopicName(StrBytes::from_string(name)))
                    .with_partition_result(partitions)
            })
            .collect();
        ElectLeadersResponse::default().with_replica_election_results(results)
    }

    /// The whole request refused: the top-level error (v1+) and, so that
    /// v0 clients see it too, the same error on every partition asked.
    fn refused(
        mut self,
        request: &ElectLeadersRequest,
        code: i16,
        message: &str,
        version: i16,
    ) -> ElectLeadersResponse {
        self.topics.clear();
        for topic in request.topic_partitions.iter().flatten() {
            for &p in &topic.partitions {
                self.push(
                    topic.topic.0.as_str(),
                    partition_result(p, code, Some(message)),
                );
            }
        }
        let response = self.response();
        if version >= 1 {
            response.with_error_code(code)
        } else {
            response
        }
    }
}

fn partition_result(partition: i32, code: i16, message: Option<&str>) -> PartitionResult {
    PartitionResult::default()
        .with_partition_id(partition)
        .with_error_code(code)
        .with_error_message(message.map(|m| StrBytes::from_string(m.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::elect_leaders_request::TopicPartitions;

    fn request(topics: Option<Vec<(&'static str, Vec<i32>)>>) -> ElectLeadersRequest {
        ElectLeadersRequest::default().with_topic_partitions(topics.map(|ts| {
            ts.into_iter()
                .map(|(t, ps)| {
                    TopicPartitions::default()
                        .with_topic(TopicName(StrBytes::from_static_str(t)))
                        .with_partitions(ps)
                })
                .collect()
        }))
    }

    #[test]
    fn a_refusal_marks_every_partition_and_the_top_level_from_v1() {
        let req = request(Some(vec![("t", vec![0, 1]), ("u", vec![2])]));
        let v0 = Answer::default().refused(&req, INVALID_REQUEST, "no", 0);
        assert_eq!(v0.error_code, 0);
        let v1 = Answer::default().refused(&req, INVALID_REQUEST, "no", 1);
        assert_eq!(v1.error_code, INVALID_REQUEST);
        let got: Vec<(String, i32, i16)> = v1
            .replica_election_results
            .iter()
            .flat_map(|t| {
                t.partition_result
                    .iter()
                    .map(|p| (t.topic.0.to_string(), p.partition_id, p.error_code))
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("t".into(), 0, INVALID_REQUEST),
                ("t".into(), 1, INVALID_REQUEST),
                ("u".into(), 2, INVALID_REQUEST),
            ]
        );
    }

    #[test]
    fn unknown_topic_names_are_answered_without_the_controller() {
        let image = MetadataImage::new();
        let mut answer = Answer::default();
        let req = request(Some(vec![("nope", vec![0, 3])]));
        let pairs = answer.resolve(&image, req.topic_partitions.as_ref().unwrap());
        assert_eq!(pairs, vec![]);
        let response = answer.response();
        let t = &response.replica_election_results[0];
        assert_eq!(t.topic.0.as_str(), "nope");
        let got: Vec<(i32, i16, Option<String>)> = t
            .partition_result
            .iter()
            .map(|p| {
                (
                    p.partition_id,
                    p.error_code,
                    p.error_message.as_ref().map(|m| m.to_string()),
                )
            })
            .collect();
        let message = Some("No such topic as nope".to_string());
        assert_eq!(got, vec![(0, 3, message.clone()), (3, 3, message)]);
    }
}
