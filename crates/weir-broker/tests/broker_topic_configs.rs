//! Topic config overrides reach the partition's log: at creation, after
//! an IncrementalAlterConfigs-style change, and after a restart (when the
//! log manager first opens every log with the broker defaults).

use std::sync::Arc;
use weir_broker::broker::Broker;
use weir_broker::config::BrokerConfig;
use weir_core::metadata::{
    AlterConfigOp, AlterConfigOpType, ConfigResource, ControllerOp, NewTopic,
};

async fn start(dir: &std::path::Path) -> Arc<Broker> {
    let text = format!(
        "node.id=1\nlog.dirs={}\nlisteners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0\n",
        dir.display()
    );
    let (config, _) = BrokerConfig::parse(&text, &[]).unwrap();
    Broker::start(config).await.unwrap()
}

fn log_settings(broker: &Broker) -> (u32, i64) {
    let p = broker.leader_partition("cfg", 0).unwrap();
    p.with_log(|log| (log.config().segment_bytes, log.config().retention_ms))
}

#[tokio::test]
async fn overrides_apply_at_creation_on_change_and_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let topic = NewTopic {
        name: "cfg".into(),
        num_partitions: 1,
        replication_factor: 1,
        configs: vec![("segment.bytes".into(), Some("1048576".into()))],
        ..NewTopic::default()
    };
    broker.create_topic(&topic, false).await.unwrap();
    assert_eq!(log_settings(&broker), (1_048_576, 604_800_000));

    let resource = ConfigResource::Topic("cfg".into());
    let op = AlterConfigOp {
        name: "retention.ms".into(),
        op: AlterConfigOpType::Set,
        value: Some("60000".into()),
    };
    broker
        .commit_op(ControllerOp::AlterConfigs {
            resource: resource.clone(),
            ops: vec![op],
        })
        .await
        .unwrap();
    assert_eq!(log_settings(&broker), (1_048_576, 60_000));

    broker.shutdown().await.unwrap();
    drop(broker);
    let broker = start(dir.path()).await;
    assert_eq!(log_settings(&broker), (1_048_576, 60_000), "after restart");
    broker.shutdown().await.unwrap();
}
