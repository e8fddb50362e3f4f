use super::*;

#[test]
fn registration_starts_fenced_and_unfencing_needs_the_current_epoch() {
    let mut image = MetadataImage::new();
    image.apply(&register(1, Some("r1"))).unwrap();
    let b = image.broker(1).unwrap();
    assert_eq!(
        (b.fenced, b.broker_epoch, b.rack.as_deref()),
        (true, 101, Some("r1"))
    );
    assert!(!image.is_unfenced(1));
    let stale = MetadataRecord::UnfenceBroker {
        broker_id: 1,
        broker_epoch: 7,
    };
    assert_eq!(
        image.apply(&stale),
        Err(MetadataError::BrokerEpochMismatch {
            broker_id: 1,
            current: 101,
            requested: 7,
        })
    );
    image.apply(&unfence(1)).unwrap();
    assert!(image.is_unfenced(1));
    image.apply(&fence(1)).unwrap();
    assert_eq!(image.unfenced_brokers().count(), 0);
    assert_eq!(
        image.apply(&unfence(2)),
        Err(MetadataError::UnknownBroker(2))
    );
}

#[test]
fn reregistration_needs_a_higher_epoch_and_starts_fenced_again() {
    let mut image = cluster(&[1]);
    assert_eq!(
        image.apply(&register(1, None)),
        Err(MetadataError::BrokerEpochNotIncreasing {
            broker_id: 1,
            current: 101,
            requested: 101,
        })
    );
    let again = MetadataRecord::RegisterBroker {
        broker_id: 1,
        incarnation_id: tid(77),
        broker_epoch: 500,
        listeners: vec![],
        rack: None,
    };
    image.apply(&again).unwrap();
    let b = image.broker(1).unwrap();
    assert_eq!(
        (b.fenced, b.broker_epoch, b.incarnation_id),
        (true, 500, tid(77))
    );
    assert_eq!(
        image.apply(&register(-1, None)),
        Err(MetadataError::InvalidBrokerId(-1))
    );
}

#[test]
fn unregister_removes_the_broker() {
    let mut image = cluster(&[1, 2]);
    let bad = MetadataRecord::UnregisterBroker {
        broker_id: 2,
        broker_epoch: 1,
    };
    assert!(image.apply(&bad).is_err());
    let good = MetadataRecord::UnregisterBroker {
        broker_id: 2,
        broker_epoch: 102,
    };
    image.apply(&good).unwrap();
    assert_eq!(
        image.brokers().map(|b| b.broker_id).collect::<Vec<_>>(),
        vec![1]
    );
}

#[test]
fn topics_are_unique_by_name_and_id() {
    let mut image = cluster(&[1]);
    image.apply(&topic("a", tid(1))).unwrap();
    assert_eq!(
        image.apply(&topic("a", tid(2))),
        Err(MetadataError::DuplicateTopicName {
            name: "a".into(),
            existing: tid(1),
        })
    );
    assert_eq!(
        image.apply(&topic("b", tid(1))),
        Err(MetadataError::DuplicateTopicId(tid(1)))
    );
    assert_eq!(
        image.apply(&topic("a b", tid(3))),
        Err(MetadataError::InvalidTopicName(
            "Topic name is invalid: 'a b' contains one or more characters other than ASCII alphanumerics, \
             '.', '_' and '-'"
                .into()
        ))
    );
    assert_eq!(image.topic_by_name("a").unwrap().topic_id, tid(1));
    assert_eq!(image.topic(&tid(1)).unwrap().name, "a");
    assert!(image.topic_by_name("b").is_none());
}

#[test]
fn partitions_need_their_topic_and_valid_state() {
    let mut image = cluster(&[1, 2, 3]);
    assert_eq!(
        image.apply(&partition(tid(9), 0, &[1], &[1], 1)),
        Err(MetadataError::UnknownTopicId(tid(9)))
    );
    image.apply(&topic("t", tid(1))).unwrap();
    let invalid = |p: i32, reason: &str| {
        Err(MetadataError::InvalidPartition {
            topic_id: tid(1),
            partition: p,
            reason: reason.into(),
        })
    };
    assert_eq!(
        image.apply(&partition(tid(1), 1, &[1], &[1], 1)),
        invalid(1, "index out of 0..=0")
    );
    assert_eq!(
        image.apply(&partition(tid(1), 0, &[], &[], -1)),
        invalid(0, "the replica list is empty")
    );
    assert_eq!(
        image.apply(&partition(tid(1), 0, &[1, 1], &[1], 1)),
        invalid(0, "replicas holds broker 1 more than once")
    );
    assert_eq!(
        image.apply(&partition(tid(1), 0, &[1, 2], &[1, 3], 1)),
        invalid(0, "isr holds broker 3, which is not a replica")
    );
    assert_eq!(
        image.apply(&partition(tid(1), 0, &[1, 2], &[1], 2)),
        invalid(0, "leader 2 is not in the ISR [1]")
    );
    image
        .apply(&partition(tid(1), 0, &[1, 2], &[1, 2], 1))
        .unwrap();
    image
        .apply(&partition(tid(1), 1, &[2, 3], &[2, 3], 2))
        .unwrap();
    let p = image.partition(&tid(1), 1).unwrap();
    assert_eq!(
        (p.leader, p.preferred_leader(), p.has_leader()),
        (2, 2, true)
    );
    assert_eq!(image.partitions(&tid(1)).unwrap().len(), 2);
}

#[test]
fn partition_change_bumps_epochs_as_kafka_merges() {
    let mut image = cluster(&[1, 2, 3]);
    apply_all(
        &mut image,
        &[
            topic("t", tid(1)),
            partition(tid(1), 0, &[1, 2, 3], &[1, 2, 3], 1),
        ],
    );
    let epochs = |image: &MetadataImage| {
        let p = image.partition(&tid(1), 0).unwrap();
        (p.leader, p.leader_epoch, p.partition_epoch)
    };
    // ISR only: partition epoch.
    image
        .apply(&change(tid(1), 0, None, Some(&[1, 2])))
        .unwrap();
    assert_eq!(epochs(&image), (1, 0, 1));
    // New leader: both.
    image.apply(&change(tid(1), 0, Some(2), None)).unwrap();
    assert_eq!(epochs(&image), (2, 1, 2));
    // The same leader named again still bumps the leader epoch.
    image.apply(&change(tid(1), 0, Some(2), None)).unwrap();
    assert_eq!(epochs(&image), (2, 2, 3));
    // Leaderless.
    image
        .apply(&change(tid(1), 0, Some(NO_LEADER), None))
        .unwrap();
    assert_eq!(epochs(&image), (-1, 3, 4));
}

#[test]
fn a_refused_change_leaves_the_image_unchanged() {
    let mut image = cluster(&[1, 2]);
    apply_all(
        &mut image,
        &[
            topic("t", tid(1)),
            partition(tid(1), 0, &[1, 2], &[1, 2], 1),
        ],
    );
    let before = image.clone();
    assert_eq!(
        image.apply(&change(tid(1), 0, Some(2), Some(&[1]))),
        Err(MetadataError::InvalidPartition {
            topic_id: tid(1),
            partition: 0,
            reason: "leader 2 is not in the ISR [1]".into(),
        })
    );
    assert_eq!(
        image.apply(&change(tid(1), 5, Some(2), None)),
        Err(MetadataError::UnknownPartition {
            topic_id: tid(1),
            partition: 5,
        })
    );
    assert_eq!(image, before);
}

#[test]
fn configs_set_delete_and_go_with_their_topic() {
    let mut image = cluster(&[1]);
    assert_eq!(
        image.apply(&topic_cfg("t", "retention.ms", Some("5"))),
        Err(MetadataError::UnknownTopicName("t".into()))
    );
    apply_all(
        &mut image,
        &[
            topic("t", tid(1)),
            topic_cfg("t", "retention.ms", Some("5")),
            topic_cfg("t", "cleanup.policy", Some("compact")),
            topic_cfg("t", "retention.ms", None),
            MetadataRecord::Config {
                resource: ConfigResource::Broker(1),
                name: "log.retention.ms".into(),
                value: Some("9".into()),
            },
            MetadataRecord::Config {
                resource: ConfigResource::Cluster,
                name: "log.retention.ms".into(),
                value: Some("8".into()),
            },
        ],
    );
    let t = ConfigResource::Topic("t".into());
    assert_eq!(
        image.configs(&t).collect::<Vec<_>>(),
        vec![("cleanup.policy", "compact")]
    );
    assert_eq!(
        image.config(&ConfigResource::Broker(1), "log.retention.ms"),
        Some("9")
    );
    assert_eq!(
        image.config(&ConfigResource::Cluster, "log.retention.ms"),
        Some("8")
    );
    image
        .apply(&MetadataRecord::RemoveTopic { topic_id: tid(1) })
        .unwrap();
    assert_eq!(image.configs(&t).count(), 0);
    assert!(image.topic(&tid(1)).is_none());
    // The name is free again, with a new id and no old configs.
    image.apply(&topic("t", tid(2))).unwrap();
    assert_eq!(image.configs(&t).count(), 0);
    assert_eq!(
        image.apply(&MetadataRecord::RemoveTopic { topic_id: tid(1) }),
        Err(MetadataError::UnknownTopicId(tid(1)))
    );
}

#[test]
fn producer_id_blocks_only_move_forward() {
    let mut image = cluster(&[1]);
    let ids = |next| MetadataRecord::ProducerIds {
        broker_id: 1,
        broker_epoch: 101,
        next_producer_id: next,
    };
    image.apply(&ids(1000)).unwrap();
    assert_eq!(image.next_producer_id(), 1000);
    assert_eq!(
        image.apply(&ids(1000)),
        Err(MetadataError::ProducerIdNotIncreasing {
            current: 1000,
            requested: 1000,
        })
    );
}

#[test]
fn only_applied_records_are_counted() {
    let mut image = MetadataImage::new();
    image.apply(&register(1, None)).unwrap();
    let _ = image.apply(&register(1, None));
    assert_eq!(image.records_applied(), 1);
}

#[test]
fn image_and_records_round_trip_through_json() {
    let mut image = cluster(&[1, 2]);
    let records = vec![
        topic("t", tid(1)),
        topic_cfg("t", "retention.ms", Some("5")),
        partition(tid(1), 0, &[1, 2], &[1, 2], 1),
        change(tid(1), 0, Some(2), Some(&[2])),
        MetadataRecord::ProducerIds {
            broker_id: 1,
            broker_epoch: 101,
            next_producer_id: 1000,
        },
    ];
    apply_all(&mut image, &records);
    let json = serde_json::to_string(&image).unwrap();
    let back: MetadataImage = serde_json::from_str(&json).unwrap();
    assert_eq!(back, image);
    for r in records {
        let back: MetadataRecord =
            serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}

#[test]
fn effective_min_isr_is_capped_by_the_replication_factor_and_at_least_one() {
    let partition = |rf: i32| PartitionRegistration {
        replicas: (1..=rf).collect(),
        isr: (1..=rf).collect(),
        elr: vec![],
        last_known_elr: vec![],
        leader: 1,
        leader_epoch: 0,
        partition_epoch: 0,
        leader_recovering: false,
    };
    assert_eq!(partition(3).effective_min_isr(2), 2);
    assert_eq!(
        partition(1).effective_min_isr(2),
        1,
        "KIP-966: capped at RF"
    );
    assert_eq!(partition(3).effective_min_isr(5), 3);
    assert_eq!(partition(3).effective_min_isr(0), 1);
}
