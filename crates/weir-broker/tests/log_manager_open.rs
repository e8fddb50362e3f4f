//! `LogManager::open`: formatting on first start, identity checks
//! (node.id, cluster.id, directory.id), unusable dirs, what is loaded and
//! what is skipped, and crashes at every step of a first start.

use std::path::{Path, PathBuf};
use weir_broker::config::BrokerConfig;
use weir_broker::log_manager::{LogManager, LogManagerError};
use weir_protocol::TopicPartition;
use weir_storage::checkpoint::MetaProperties;
use weir_storage::log::LogConfig;
use weir_storage::memfs::MemFs;
use weir_storage::{FileSystem, Fs, RealFs};

/// A config for `node_id` with `log_dirs` (and `metadata.log.dir` if given).
fn config(node_id: i32, log_dirs: &[&Path], metadata: Option<&Path>) -> BrokerConfig {
    let dirs: Vec<String> = log_dirs.iter().map(|d| d.display().to_string()).collect();
    let mut text = format!("node.id={node_id}\nlog.dirs={}\n", dirs.join(","));
    if let Some(m) = metadata {
        text.push_str(&format!("metadata.log.dir={}\n", m.display()));
    }
    BrokerConfig::parse(&text, &[]).unwrap().0
}

fn meta(fs: &dyn FileSystem, dir: &Path) -> MetaProperties {
    MetaProperties::read(fs, &dir.join("meta.properties"))
        .unwrap()
        .expect("meta.properties")
}

fn open_err(fs: Fs, config: &BrokerConfig) -> LogManagerError {
    LogManager::open(fs, config, 0).expect_err("open should fail")
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

#[test]
fn formats_empty_dirs_then_reopens_with_the_same_identity() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, m) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("meta"),
    );
    let config = config(3, &[&a, &b], Some(&m));
    let manager = LogManager::open(RealFs::shared(), &config, 0).unwrap();
    let cluster_id = manager.cluster_id().to_string();
    assert_eq!(cluster_id.len(), 22);
    assert_eq!(manager.node_id(), 3);
    assert_eq!(manager.log_dirs(), &[a.clone(), b.clone()]);

    let metas: Vec<MetaProperties> = [&a, &b, &m].iter().map(|d| meta(&RealFs, d)).collect();
    for meta in &metas {
        assert_eq!((meta.node_id, meta.version), (3, 1));
        assert_eq!(meta.cluster_id, cluster_id);
        assert_eq!(meta.directory_id.as_ref().map(String::len), Some(22));
    }
    assert_ne!(metas[0].directory_id, metas[1].directory_id);
    for name in [
        "recovery-point-offset-checkpoint",
        "log-start-offset-checkpoint",
        "replication-offset-checkpoint",
    ] {
        assert_eq!(std::fs::read(a.join(name)).unwrap(), b"0\n0\n", "{name}");
    }
    drop(manager);

    let before = std::fs::read(a.join("meta.properties")).unwrap();
    let reopened = LogManager::open(RealFs::shared(), &config, 0).unwrap();
    assert_eq!(reopened.cluster_id(), cluster_id);
    assert_eq!(std::fs::read(a.join("meta.properties")).unwrap(), before);
}

#[test]
fn reads_a_kafka_formatted_dir() {
    let fs: Fs = MemFs::new();
    fs.create_dir_all(Path::new("/k")).unwrap();
    let kafka = "#\n#Tue Mar 18 10:00:00 UTC 2025\nnode.id=1\n\
                 directory.id=d-WFNekpuxRFw-iHkfeivA\nversion=1\n\
                 cluster.id=MkU3OEVBNTcwNTJENDM2Qg\n";
    fs.write_atomic(Path::new("/k/meta.properties"), kafka.as_bytes())
        .unwrap();
    let manager = LogManager::open(fs.clone(), &config(1, &[Path::new("/k")], None), 0).unwrap();
    assert_eq!(manager.cluster_id(), "MkU3OEVBNTcwNTJENDM2Qg");
}

#[test]
fn a_dir_of_another_node_is_refused_naming_both_ids() {
    let tmp = tempfile::tempdir().unwrap();
    LogManager::open(RealFs::shared(), &config(1, &[tmp.path()], None), 0).unwrap();
    let err = open_err(RealFs::shared(), &config(2, &[tmp.path()], None));
    assert!(matches!(
        err,
        LogManagerError::NodeIdMismatch {
            found: 1,
            expected: 2,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        format!(
            "log dir {} belongs to node.id 1 (meta.properties) but this node's node.id is 2",
            tmp.path().display()
        )
    );
}

#[test]
fn dirs_of_different_clusters_are_refused() {
    let fs: Fs = MemFs::new();
    let (a, b) = (Path::new("/a"), Path::new("/b"));
    LogManager::open(fs.clone(), &config(1, &[a], None), 0).unwrap();
    LogManager::open(fs.clone(), &config(1, &[b], None), 0).unwrap();
    let err = open_err(fs.clone(), &config(1, &[a, b], None));
    assert!(
        matches!(err, LogManagerError::ClusterIdMismatch { ref dir, .. } if dir == b),
        "{err}"
    );
    assert!(
        err.to_string().contains("but log dir /a has cluster.id"),
        "{err}"
    );
}

#[test]
fn a_new_dir_joins_the_existing_cluster() {
    let fs: Fs = MemFs::new();
    let (a, b) = (Path::new("/a"), Path::new("/b"));
    let first = LogManager::open(fs.clone(), &config(1, &[a], None), 0).unwrap();
    let cluster_id = first.cluster_id().to_string();
    drop(first);
    let both = LogManager::open(fs.clone(), &config(1, &[a, b], None), 0).unwrap();
    assert_eq!(both.cluster_id(), cluster_id);
    assert_eq!(meta(&*fs, b).cluster_id, cluster_id);
}

#[test]
fn a_cluster_id_from_the_caller_formats_and_is_enforced() {
    let fs: Fs = MemFs::new();
    let config = config(1, &[Path::new("/a")], None);
    let id = "MkU3OEVBNTcwNTJENDM2Qg";
    let manager = LogManager::open_with_cluster_id(fs.clone(), &config, Some(id), 0).unwrap();
    assert_eq!(manager.cluster_id(), id);
    drop(manager);
    let err = LogManager::open_with_cluster_id(fs.clone(), &config, Some("other"), 0).unwrap_err();
    assert!(
        err.to_string()
            .contains("but the caller has cluster.id other"),
        "{err}"
    );
}

#[test]
fn a_copied_dir_is_refused() {
    let fs: Fs = MemFs::new();
    LogManager::open(fs.clone(), &config(1, &[Path::new("/a")], None), 0).unwrap();
    fs.create_dir_all(Path::new("/b")).unwrap();
    let text = fs.read(Path::new("/a/meta.properties")).unwrap();
    fs.write_atomic(Path::new("/b/meta.properties"), &text)
        .unwrap();
    let err = open_err(fs, &config(1, &[Path::new("/a"), Path::new("/b")], None));
    assert!(
        matches!(err, LogManagerError::DuplicateDirectoryId { .. }),
        "{err}"
    );
}

#[test]
fn unusable_dirs_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let err = open_err(RealFs::shared(), &config(1, &[&file], None));
    assert_eq!(
        err.to_string(),
        format!("log dir {} is not a directory", file.display())
    );
    let under_file = file.join("sub");
    let err = open_err(RealFs::shared(), &config(1, &[&under_file], None));
    assert!(matches!(err, LogManagerError::Io { .. }), "{err}");

    // A disk that cannot take a write: formatting fails, naming the file.
    let fs = MemFs::new();
    fs.set_write_limit(Some(0));
    let err = open_err(fs, &config(1, &[Path::new("/full")], None));
    assert!(err.to_string().contains("/full/meta.properties"), "{err}");
}

#[test]
fn bad_meta_properties_are_errors_not_panics() {
    let fs: Fs = MemFs::new();
    let dir = Path::new("/d");
    fs.create_dir_all(dir).unwrap();
    let path = dir.join("meta.properties");
    let config = config(1, &[dir], None);
    let cases: &[(&[u8], &str)] = &[
        (b"version=0\nbroker.id=1\ncluster.id=c\n", "version 0"),
        (b"version=1\nnode.id=1\n", "cluster.id"),
        (b"\xff\xfe", "not UTF-8"),
        (b"version=1\nnode.id=x\ncluster.id=c\n", "node.id"),
    ];
    for (text, expected) in cases {
        fs.write_atomic(&path, text).unwrap();
        let err = open_err(fs.clone(), &config).to_string();
        assert!(err.contains(expected), "{err}");
    }
}

#[test]
fn garbage_checkpoints_are_errors_naming_the_file() {
    let fs: Fs = MemFs::new();
    let config = config(1, &[Path::new("/d")], None);
    LogManager::open(fs.clone(), &config, 0).unwrap();
    let path = Path::new("/d/recovery-point-offset-checkpoint");
    fs.write_atomic(path, b"0\n1\nt 0 nope\n").unwrap();
    let err = open_err(fs, &config);
    assert!(
        err.to_string()
            .starts_with("/d/recovery-point-offset-checkpoint: line 3"),
        "{err}"
    );
}

#[test]
fn loads_partitions_and_skips_or_removes_the_rest() {
    let fs: Fs = MemFs::new();
    let config = config(1, &[Path::new("/d")], None);
    drop(LogManager::open(fs.clone(), &config, 0).unwrap());
    for dir in [
        "/d/t-1",
        "/d/my-topic-12",
        "/d/t-0.0123456789abcdef0123456789abcdef-delete/inner",
        "/d/__cluster_metadata-0",
        "/d/lost+found",
        "/d/t-2.0123456789abcdef0123456789abcdef-future",
        "/d/no_partition",
    ] {
        fs.create_dir_all(Path::new(dir)).unwrap();
    }
    fs.write_atomic(Path::new("/d/t-9"), b"a file, not a partition")
        .unwrap();
    let manager = LogManager::open(fs.clone(), &config, 0).unwrap();
    assert_eq!(manager.partitions(), vec![tp("my-topic", 12), tp("t", 1)]);
    assert!(!fs.exists(Path::new("/d/t-0.0123456789abcdef0123456789abcdef-delete")));
    assert!(fs.is_dir(Path::new("/d/__cluster_metadata-0")));
    assert!(fs.is_dir(Path::new("/d/lost+found")));
}

#[test]
fn a_partition_in_two_dirs_is_refused() {
    let fs: Fs = MemFs::new();
    let config = config(1, &[Path::new("/a"), Path::new("/b")], None);
    drop(LogManager::open(fs.clone(), &config, 0).unwrap());
    fs.create_dir_all(Path::new("/a/t-0")).unwrap();
    fs.create_dir_all(Path::new("/b/t-0")).unwrap();
    let err = open_err(fs, &config);
    assert_eq!(
        err.to_string(),
        "partition t-0 has logs in both /a/t-0 and /b/t-0"
    );
}

#[test]
fn new_partitions_spread_over_the_dirs_and_reopen_in_place() {
    let fs: Fs = MemFs::new();
    let config = config(1, &[Path::new("/a"), Path::new("/b")], None);
    let manager = LogManager::open(fs.clone(), &config, 0).unwrap();
    for p in 0..4 {
        let log = manager
            .get_or_create(tp("t", p), LogConfig::default(), 0)
            .unwrap();
        let again = manager
            .get_or_create(tp("t", p), LogConfig::default(), 0)
            .unwrap();
        assert!(std::sync::Arc::ptr_eq(&log, &again));
    }
    let dir_of = |p: i32| -> PathBuf {
        let log = manager.get(&tp("t", p)).unwrap();
        let dir = log.lock().unwrap().dir().parent().unwrap().to_path_buf();
        dir
    };
    let dirs: Vec<PathBuf> = (0..4).map(dir_of).collect();
    assert_eq!(dirs, ["/a", "/b", "/a", "/b"].map(PathBuf::from).to_vec());
    drop(manager);
    let reopened = LogManager::open(fs, &config, 0).unwrap();
    assert_eq!(reopened.partitions().len(), 4);
}

#[test]
fn partition_names_that_are_not_directory_names_are_refused() {
    let fs: Fs = MemFs::new();
    let manager = LogManager::open(fs.clone(), &config(1, &[Path::new("/d")], None), 0).unwrap();
    for bad in [tp("../escape", 0), tp("a/b", 0), tp("t", -1), tp("", 0)] {
        let err = manager
            .get_or_create(bad.clone(), LogConfig::default(), 0)
            .unwrap_err();
        assert!(
            matches!(err, LogManagerError::InvalidTopicPartition { .. }),
            "{bad}: {err}"
        );
    }
    assert!(!fs.exists(Path::new("/escape-0")));
    assert!(manager.partitions().is_empty());
}

/// A crash at any step of a first start leaves dirs that the next start
/// opens (formatting again if `meta.properties` never became durable).
#[test]
fn a_crash_at_every_step_of_a_first_start_recovers() {
    let config = config(1, &[Path::new("/a"), Path::new("/b")], None);
    for after_ops in 0..40 {
        let fs = MemFs::new();
        fs.schedule_crash(after_ops, None);
        let first = LogManager::open(fs.clone(), &config, 0);
        let completed = first.is_ok();
        drop(first);
        fs.schedule_crash(u64::MAX, None); // disarm, if it did not fire
        fs.crash(None);
        let manager = LogManager::open(fs.clone(), &config, 0)
            .unwrap_or_else(|e| panic!("after {after_ops} ops: {e}"));
        let ids = [meta(&*fs, Path::new("/a")), meta(&*fs, Path::new("/b"))];
        assert_eq!(ids[0].cluster_id, manager.cluster_id());
        assert_eq!(ids[1].cluster_id, manager.cluster_id());
        if completed {
            break;
        }
    }
}
