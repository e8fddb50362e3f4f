use super::*;

const T: u128 = 42;

type Plan = Result<Vec<MetadataRecord>, PlanError>;

fn new_topic(name: &str, num_partitions: i32, replication_factor: i16) -> NewTopic {
    NewTopic {
        name: name.into(),
        num_partitions,
        replication_factor,
        ..NewTopic::default()
    }
}

fn manual(assignments: &[(i32, &[i32])]) -> NewTopic {
    NewTopic {
        name: "m".into(),
        num_partitions: -1,
        replication_factor: -1,
        assignments: assignments
            .iter()
            .map(|(p, ids)| ReplicaAssignment {
                partition_index: *p,
                broker_ids: ids.to_vec(),
            })
            .collect(),
        configs: vec![],
    }
}

fn create(
    image: &MetadataImage,
    topic: &NewTopic,
    start_index: usize,
) -> Result<Vec<MetadataRecord>, PlanError> {
    plan_create_topic(image, topic, &TopicDefaults::default(), tid(T), start_index)
}

/// Brokers with the racks of Kafka's `AdminRackAwareTest`.
fn racked_cluster(racks: &[(i32, &str)]) -> MetadataImage {
    let mut image = MetadataImage::new();
    for &(id, rack) in racks {
        apply_all(&mut image, &[register(id, Some(rack)), unfence(id)]);
    }
    image
}

#[test]
fn three_brokers_six_partitions_rf3_start_0() {
    let image = cluster(&[1, 2, 3]);
    let got = create(&image, &new_topic("t", 6, 3), 0).unwrap();
    let want = vec![
        topic("t", tid(T)),
        partition(tid(T), 0, &[1, 2, 3], &[1, 2, 3], 1),
        partition(tid(T), 1, &[2, 3, 1], &[2, 3, 1], 2),
        partition(tid(T), 2, &[3, 1, 2], &[3, 1, 2], 3),
        partition(tid(T), 3, &[1, 3, 2], &[1, 3, 2], 1),
        partition(tid(T), 4, &[2, 1, 3], &[2, 1, 3], 2),
        partition(tid(T), 5, &[3, 2, 1], &[3, 2, 1], 3),
    ];
    assert_eq!(got, want);
    let mut applied = image.clone();
    apply_all(&mut applied, &got);
    assert_eq!(applied.topic_by_name("t").unwrap().partitions.len(), 6);
}

#[test]
fn configs_come_sorted_between_topic_and_partitions() {
    let image = cluster(&[1, 2, 3]);
    let mut t = new_topic("t", 1, 1);
    t.configs = vec![
        ("retention.ms".into(), Some("1000".into())),
        ("cleanup.policy".into(), Some("compact".into())),
    ];
    let want = vec![
        topic("t", tid(T)),
        topic_cfg("t", "cleanup.policy", Some("compact")),
        topic_cfg("t", "retention.ms", Some("1000")),
        partition(tid(T), 0, &[2], &[2], 2),
    ];
    assert_eq!(create(&image, &t, 1).unwrap(), want);
}

#[test]
fn minus_one_takes_the_callers_defaults() {
    let image = cluster(&[1, 2, 3]);
    let defaults = TopicDefaults {
        num_partitions: 2,
        replication_factor: 2,
    };
    let got = plan_create_topic(&image, &new_topic("t", -1, -1), &defaults, tid(T), 2).unwrap();
    let want = vec![
        topic("t", tid(T)),
        partition(tid(T), 0, &[3, 1], &[3, 1], 3),
        partition(tid(T), 1, &[1, 2], &[1, 2], 1),
    ];
    assert_eq!(got, want);
}

#[test]
fn fenced_brokers_get_no_replicas() {
    let mut image = cluster(&[1, 2, 3, 4]);
    image.apply(&fence(2)).unwrap();
    let want = vec![
        topic("t", tid(T)),
        partition(tid(T), 0, &[1, 3], &[1, 3], 1),
        partition(tid(T), 1, &[3, 4], &[3, 4], 3),
        partition(tid(T), 2, &[4, 1], &[4, 1], 4),
    ];
    assert_eq!(create(&image, &new_topic("t", 3, 2), 0).unwrap(), want);
}

#[test]
fn racks_spread_replicas_as_kafka_does() {
    let image = racked_cluster(&[
        (0, "rack1"),
        (1, "rack3"),
        (2, "rack3"),
        (3, "rack2"),
        (4, "rack2"),
        (5, "rack1"),
    ]);
    let got = create(&image, &new_topic("t", 7, 3), 0).unwrap();
    let replicas: Vec<Vec<i32>> = got
        .iter()
        .filter_map(|r| match r {
            MetadataRecord::Partition { replicas, .. } => Some(replicas.clone()),
            _ => None,
        })
        .collect();
    let want = vec![
        vec![0, 3, 1],
        vec![3, 1, 5],
        vec![1, 5, 4],
        vec![5, 4, 2],
        vec![4, 2, 0],
        vec![2, 0, 3],
        vec![0, 4, 2],
    ];
    assert_eq!(replicas, want);
}

#[test]
fn manual_assignment_in_any_order_with_fenced_replicas_left_out_of_the_isr() {
    let mut image = cluster(&[1, 2, 3]);
    image.apply(&fence(1)).unwrap();
    let got = create(&image, &manual(&[(1, &[1, 2]), (0, &[3, 1])]), 0).unwrap();
    let want = vec![
        topic("m", tid(T)),
        partition(tid(T), 0, &[3, 1], &[3], 3),
        partition(tid(T), 1, &[1, 2], &[2], 2),
    ];
    assert_eq!(got, want);
}

#[test]
fn create_topic_errors_carry_kafkas_codes_and_messages() {
    let mut image = cluster(&[1, 2, 3]);
    apply_all(
        &mut image,
        &[topic("t.x", tid(1)), partition(tid(1), 0, &[1], &[1], 1)],
    );
    let mut fenced = image.clone();
    fenced.apply(&fence(3)).unwrap();
    let mut all_fenced = fenced.clone();
    apply_all(&mut all_fenced, &[fence(1), fence(2)]);
    let with_configs = |configs: &[(&str, Option<&str>)]| NewTopic {
        configs: configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect(),
        ..new_topic("c", 1, 1)
    };
    let mut counted = manual(&[(0, &[1])]);
    counted.replication_factor = 1;
    let mut sized = manual(&[(0, &[1])]);
    sized.num_partitions = 1;
    let cases: Vec<(Plan, i16, &str)> = vec![
        (create(&image, &new_topic("t.x", 1, 1), 0), 36, "Topic 't.x' already exists."),
        (
            create(&image, &new_topic("t_x", 1, 1), 0),
            17,
            "Topic 't_x' collides with existing topic: t.x",
        ),
        (
            create(&image, &new_topic("", 1, 1), 0),
            17,
            "Topic name is invalid: the empty string is not allowed",
        ),
        (
            create(&image, &new_topic("__cluster_metadata", 1, 1), 0),
            42,
            "Creation of internal topic __cluster_metadata is prohibited.",
        ),
        (
            create(&image, &new_topic("n", 1, 0), 0),
            38,
            "Replication factor must be larger than 0, or -1 to use the default value.",
        ),
        (
            create(&image, &new_topic("n", 1, -2), 0),
            38,
            "Replication factor must be larger than 0, or -1 to use the default value.",
        ),
        (
            create(&image, &new_topic("n", 0, 1), 0),
            37,
            "Number of partitions was set to an invalid non-positive value.",
        ),
        (
            create(&image, &new_topic("n", 1, 4), 0),
            38,
            "Unable to replicate the partition 4 time(s): The target replication factor of 4 cannot be \
             reached because only 3 broker(s) are registered.",
        ),
        (
            create(&fenced, &new_topic("n", 1, 3), 0),
            38,
            "Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be \
             reached because only 2 broker(s) are unfenced.",
        ),
        (
            create(&all_fenced, &new_topic("n", 1, 1), 0),
            38,
            "Unable to replicate the partition 1 time(s): All brokers are currently fenced.",
        ),
        (
            create(&image, &new_topic("n", 10_000, 1), 0),
            44,
            "Unable to perform excessively large batch operation.",
        ),
        (
            create(&image, &with_configs(&[("a", None), ("b", None)]), 0),
            40,
            "Null value not supported for topic configs: a,b",
        ),
        (
            create(&image, &with_configs(&[("foo", Some("1"))]), 0),
            40,
            "Unknown topic config name: foo",
        ),
        (
            create(&image, &with_configs(&[("retention.ms", Some("x"))]), 0),
            40,
            "Invalid value x for configuration retention.ms: Not a number of type LONG",
        ),
        (
            create(&image, &counted, 0),
            42,
            "A manual partition assignment was specified, but replication factor was not set to -1.",
        ),
        (
            create(&image, &sized, 0),
            42,
            "A manual partition assignment was specified, but numPartitions was not set to -1.",
        ),
        (
            create(&image, &manual(&[(0, &[1]), (0, &[2])]), 0),
            39,
            "Found multiple manual partition assignments for partition 0",
        ),
        (
            create(&image, &manual(&[(0, &[])]), 0),
            39,
            "The manual partition assignment includes an empty replica list.",
        ),
        (
            create(&image, &manual(&[(0, &[1, 9])]), 0),
            39,
            "The manual partition assignment includes broker 9, but no such broker is registered.",
        ),
        (
            create(&image, &manual(&[(0, &[2, 1, 2])]), 0),
            39,
            "The manual partition assignment includes the broker 2 more than once.",
        ),
        (
            create(&image, &manual(&[(0, &[1, 2]), (1, &[3])]), 0),
            39,
            "The manual partition assignment includes a partition with 1 replica(s), but this is not \
             consistent with previous partitions, which have 2 replica(s).",
        ),
        (
            create(&image, &manual(&[(0, &[1]), (2, &[2])]), 0),
            39,
            "partitions should be a consecutive 0-based integer sequence",
        ),
        (
            create(&all_fenced, &manual(&[(0, &[1, 2])]), 0),
            39,
            "All brokers specified in the manual partition assignment for partition 0 are fenced or in \
             controlled shutdown.",
        ),
    ];
    for (i, (got, code, message)) in cases.into_iter().enumerate() {
        let err = got.expect_err(message);
        assert_eq!(
            (err.error_code(), err.message()),
            (code, message),
            "case {i}"
        );
    }
}

/// Topic "t" with partitions [1,2], [2,3], [3,1] on brokers 1..3.
fn with_topic_t() -> MetadataImage {
    let mut image = cluster(&[1, 2, 3]);
    let records = create(&image, &new_topic("t", 3, 2), 0).unwrap();
    apply_all(&mut image, &records);
    image
}

#[test]
fn create_partitions_continues_the_placement() {
    let image = with_topic_t();
    let want = vec![
        partition(tid(T), 3, &[1, 3], &[1, 3], 1),
        partition(tid(T), 4, &[2, 1], &[2, 1], 2),
    ];
    assert_eq!(
        plan_create_partitions(&image, "t", 5, None, 0).unwrap(),
        want
    );
    let lists = [vec![3, 2]];
    assert_eq!(
        plan_create_partitions(&image, "t", 4, Some(&lists), 0).unwrap(),
        vec![partition(tid(T), 3, &[3, 2], &[3, 2], 3)]
    );
}

#[test]
fn create_partitions_errors() {
    let image = with_topic_t();
    let err = |r: Plan| {
        let e = r.unwrap_err();
        (e.error_code(), e.message().to_string())
    };
    let one = [vec![1, 2]];
    let short = [vec![1]];
    assert_eq!(
        err(plan_create_partitions(&image, "nope", 5, None, 0)),
        (3, "This server does not host this topic-partition.".into())
    );
    assert_eq!(
        err(plan_create_partitions(&image, "t", 3, None, 0)),
        (37, "Topic already has 3 partition(s).".into())
    );
    assert_eq!(
        err(plan_create_partitions(&image, "t", 2, None, 0)),
        (
            37,
            "The topic t currently has 3 partition(s); 2 would not be an increase.".into()
        )
    );
    assert_eq!(
        err(plan_create_partitions(&image, "t", 5, Some(&one), 0)),
        (
            39,
            "Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified."
                .into()
        )
    );
    assert_eq!(
        err(plan_create_partitions(&image, "t", 4, Some(&short), 0)),
        (
            39,
            "The manual partition assignment includes a partition with 1 replica(s), but this is not consistent \
             with previous partitions, which have 2 replica(s)."
                .into()
        )
    );
    assert_eq!(
        err(plan_create_partitions(&image, "t", 20_000, None, 0)).0,
        44
    );
}

#[test]
fn delete_topic_by_name_and_by_id() {
    let image = with_topic_t();
    let remove = vec![MetadataRecord::RemoveTopic { topic_id: tid(T) }];
    assert_eq!(plan_delete_topic(&image, "t").unwrap(), remove);
    assert_eq!(plan_delete_topic_by_id(&image, tid(T)).unwrap(), remove);
    assert_eq!(plan_delete_topic(&image, "u").unwrap_err().error_code(), 3);
    let by_id = plan_delete_topic_by_id(&image, tid(7)).unwrap_err();
    assert_eq!(
        (by_id.error_code(), by_id.message()),
        (100, "This server does not host this topic ID.")
    );
}

fn op(name: &str, op: AlterConfigOpType, value: Option<&str>) -> AlterConfigOp {
    AlterConfigOp {
        name: name.into(),
        op,
        value: value.map(str::to_string),
    }
}

#[test]
fn alter_topic_configs_set_delete_append_subtract() {
    use AlterConfigOpType::*;
    let mut image = with_topic_t();
    let t = ConfigResource::Topic("t".into());
    let ops = [
        op("retention.ms", Set, Some("1000")),
        op("segment.ms", Delete, None),
        op("cleanup.policy", Append, Some("compact")),
    ];
    let got = plan_alter_configs(&image, &t, &ops).unwrap();
    let want = vec![
        topic_cfg("t", "retention.ms", Some("1000")),
        topic_cfg("t", "cleanup.policy", Some("delete,compact")),
    ];
    assert_eq!(got, want);
    apply_all(&mut image, &got);
    let ops = [
        op("retention.ms", Set, Some("1000")),
        op("cleanup.policy", Subtract, Some("delete")),
        op("segment.bytes", Delete, None),
    ];
    assert_eq!(
        plan_alter_configs(&image, &t, &ops).unwrap(),
        vec![topic_cfg("t", "cleanup.policy", Some("compact"))]
    );
    assert_eq!(
        plan_alter_configs(&image, &t, &[op("retention.ms", Delete, None)]).unwrap(),
        vec![topic_cfg("t", "retention.ms", None)]
    );
}

#[test]
fn broker_configs_always_get_a_record_cluster_configs_only_on_change() {
    use AlterConfigOpType::*;
    let mut image = cluster(&[1]);
    let set = [op("log.retention.ms", Set, Some("9"))];
    for resource in [ConfigResource::Broker(1), ConfigResource::Cluster] {
        let records = plan_alter_configs(&image, &resource, &set).unwrap();
        assert_eq!(
            records,
            vec![MetadataRecord::Config {
                resource: resource.clone(),
                name: "log.retention.ms".into(),
                value: Some("9".into()),
            }]
        );
        apply_all(&mut image, &records);
    }
    assert_eq!(
        plan_alter_configs(&image, &ConfigResource::Broker(1), &set)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        plan_alter_configs(&image, &ConfigResource::Cluster, &set).unwrap(),
        vec![]
    );
}

#[test]
fn alter_configs_errors() {
    use AlterConfigOpType::*;
    let image = with_topic_t();
    let t = ConfigResource::Topic("t".into());
    let err = |resource: &ConfigResource, ops: &[AlterConfigOp]| {
        let e = plan_alter_configs(&image, resource, ops).unwrap_err();
        (e.error_code(), e.message().to_string())
    };
    let set_retention = [op("retention.ms", Set, Some("1"))];
    assert_eq!(
        err(&ConfigResource::Topic("u".into()), &set_retention),
        (3, "This server does not host this topic-partition.".into())
    );
    assert_eq!(
        err(&ConfigResource::Topic(String::new()), &set_retention),
        (42, "Default topic resources are not allowed.".into())
    );
    assert_eq!(
        err(&ConfigResource::Broker(-1), &set_retention),
        (42, "Invalid negative broker ID.".into())
    );
    assert_eq!(
        err(&t, &[op("retention.ms", Set, Some("soon"))]),
        (
            40,
            "Invalid value soon for configuration retention.ms: Not a number of type LONG".into()
        )
    );
    assert_eq!(
        err(&t, &[op("nope", Set, Some("1"))]),
        (40, "Unknown topic config name: nope".into())
    );
    assert_eq!(
        err(&t, &[op("retention.ms", Append, Some("1"))]),
        (
            40,
            "Can't APPEND to key retention.ms because its type is not LIST.".into()
        )
    );
    assert_eq!(
        err(&t, &[op("retention.ms", Set, None)]),
        (
            40,
            "Null value not supported for configs: retention.ms".into()
        )
    );
    assert_eq!(
        err(
            &t,
            &[
                op("retention.ms", Set, Some("1")),
                op("retention.ms", Delete, None)
            ]
        ),
        (42, "Error due to duplicate config keys".into())
    );
    assert_eq!(AlterConfigOpType::from_code(2), Some(Append));
    assert_eq!(AlterConfigOpType::from_code(4), None);
}

#[test]
fn producer_id_blocks_follow_each_other() {
    let mut image = cluster(&[1, 2]);
    let (block, records) = plan_producer_id_block(&image, 1, PRODUCER_ID_BLOCK_SIZE).unwrap();
    assert_eq!(
        block,
        ProducerIdBlock {
            broker_id: 1,
            first_producer_id: 0,
            size: 1000,
        }
    );
    assert_eq!(block.last_producer_id(), 999);
    assert_eq!(
        records,
        vec![MetadataRecord::ProducerIds {
            broker_id: 1,
            broker_epoch: 101,
            next_producer_id: 1000,
        }]
    );
    apply_all(&mut image, &records);
    let (block, records) = plan_producer_id_block(&image, 2, 10).unwrap();
    assert_eq!(
        (block.first_producer_id, block.next_block_first_id()),
        (1000, 1010)
    );
    assert_eq!(
        records,
        vec![MetadataRecord::ProducerIds {
            broker_id: 2,
            broker_epoch: 102,
            next_producer_id: 1010,
        }]
    );
}

#[test]
fn producer_id_block_errors() {
    let mut image = cluster(&[1]);
    let err = |image: &MetadataImage, broker: i32, size: i64| {
        let e = plan_producer_id_block(image, broker, size).unwrap_err();
        (e.error_code(), e.message().to_string())
    };
    assert_eq!(
        err(&image, 9, 1000),
        (77, "No broker registration found for 9".into())
    );
    assert_eq!(
        err(&image, 1, 0),
        (42, "Invalid producer id block size 0.".into())
    );
    image
        .apply(&MetadataRecord::ProducerIds {
            broker_id: 1,
            broker_epoch: 101,
            next_producer_id: i64::MAX - 10,
        })
        .unwrap();
    assert_eq!(
        err(&image, 1, 1000),
        (
            -1,
            "Exhausted all producerIds as the next block's end producerId has exceeded the int64 type limit".into()
        )
    );
}
