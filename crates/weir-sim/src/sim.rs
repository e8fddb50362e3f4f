//! The simulation engine: brokers (the shell around `weir-core`'s rules),
//! the controller, the network and the faults, all driven by one seeded
//! PRNG and a simulated clock. See the crate documentation for the model.

use crate::log::{Entry, ModelLog};
use crate::rng::Rng;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use uuid::Uuid;
use weir_core::metadata::{
    plan_alter_partition_with, plan_broker_fenced_with, plan_broker_unfenced_with,
    plan_register_broker_with, AlterPartitionRequest, BrokerRegistrationRequest, BrokerSessions,
    ElectionPolicy, HeartbeatVerdict, MetadataImage, MetadataRecord, PartitionRegistration,
};
use weir_core::partition::{
    follower_high_watermark, truncation_for_divergence, Action, FetchRejection, FollowerFetch,
    LeaderState, ReplicationConfig,
};

/// The simulated topic's id.
pub const TOPIC_ID: Uuid = Uuid::from_u128(0x5EED_7091C);
/// How many events a failure's trace keeps.
pub const TRACE_LEN: usize = 50;

/// A rule of the shell that a test breaks on purpose, to show that the
/// invariants catch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokenRule {
    /// The leader acknowledges an acks=all produce as soon as its own log
    /// holds it (the HWM from the leader alone), not when the high
    /// watermark passes it.
    AckOnLeaderAppend,
    /// Followers never send `last_fetched_epoch`, so the leader never
    /// answers `diverging_epoch` and a divergent suffix is never cut
    /// (pre-KIP-101 behaviour: only an out-of-range offset truncates, to
    /// the leader's end).
    FollowersSkipTruncation,
    /// The leader drops its pending ISR proposal on *any* AlterPartition
    /// refusal, as `LeaderState::on_alter_isr_failed`'s documentation
    /// says ("stale partition epoch, ...: drop it"). Unsafe: a re-sent
    /// proposal whose first copy was committed is refused with
    /// INVALID_UPDATE_VERSION, and dropping it lets the high watermark pass
    /// a replica that is in the committed ISR before the leader learns it.
    /// The correct shell drops a proposal only when the refusal proves it
    /// was not committed (INELIGIBLE_REPLICA, INVALID_REQUEST: the
    /// partition epoch matched) and otherwise waits for the newer
    /// registration (`on_partition_change`).
    DropProposalOnAnyRefusal,
}

/// A named fault mix (a preset of [`SimConfig`]'s rates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// RF=3, min ISR 2, a bit of everything.
    Default,
    /// Many dropped and long-delayed messages (reordering).
    Lossy,
    /// Five times the crashes, partitions and power losses.
    Crashy,
    /// Slow, lossy metadata propagation and heartbeats.
    SlowMetadata,
    /// Five brokers, RF=5, min ISR 3.
    Rf5,
    /// The crashy mix with KIP-966's eligible leader replicas on (every
    /// restart is unclean: SIGKILL or power loss).
    Elr,
    /// [`Mix::Elr`] with unclean leader election allowed: out-of-sync
    /// replicas may lead, so acknowledged records may be lost (not in
    /// [`Mix::ALL`]; a test expects the loss).
    Unclean,
    /// min.insync.replicas=1 (no power loss: with one copy it is unsafe).
    MinIsr1,
    /// Short restarts, long message delays and frequent power loss, so
    /// fetches of a dead incarnation arrive after it restarted with less
    /// data. Loses acknowledged records unless
    /// [`SimConfig::kip903_controller_check`] is on (the tests and the long
    /// mode turn it on for this mix), so it is not in [`Mix::ALL`].
    StaleIncarnations,
}

impl Mix {
    /// Every mix, for the long mode's rotation.
    pub const ALL: [Mix; 7] = [
        Mix::Default,
        Mix::Lossy,
        Mix::Crashy,
        Mix::SlowMetadata,
        Mix::Rf5,
        Mix::MinIsr1,
        Mix::Elr,
    ];

    /// The name `WEIR_SIM_MIX` takes.
    pub fn name(self) -> &'static str {
        match self {
            Mix::Default => "default",
            Mix::Lossy => "lossy",
            Mix::Crashy => "crashy",
            Mix::SlowMetadata => "slowmeta",
            Mix::Rf5 => "rf5",
            Mix::MinIsr1 => "minisr1",
            Mix::Elr => "elr",
            Mix::Unclean => "unclean",
            Mix::StaleIncarnations => "stale",
        }
    }

    /// The mix called `name`.
    pub fn from_name(name: &str) -> Option<Mix> {
        Mix::ALL
            .into_iter()
            .chain([Mix::StaleIncarnations, Mix::Unclean])
            .find(|m| m.name() == name)
    }
}

/// What a simulation run looks like.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The seed: the run is a pure function of it and the rest of this.
    pub seed: u64,
    /// The preset this config started from (for replay instructions).
    pub mix: Mix,
    /// Brokers, ids 1..=brokers; each holds a replica (RF = brokers).
    pub brokers: usize,
    /// `min.insync.replicas`.
    pub min_isr: usize,
    /// Steps to run.
    pub steps: u64,
    /// Each step advances the clock by 1..=this many ms.
    pub step_ms_max: i64,
    /// Chance per step that a producer sends one record (acks=all).
    pub produce_rate: f64,
    /// Chance per step that the consumer reads from a leader.
    pub consume_rate: f64,
    /// Chance per step of a SIGKILL of a random live broker.
    pub crash_rate: f64,
    /// Chance per step of a power loss of a random live broker (only when
    /// every other broker is up and in the ISR).
    pub power_loss_rate: f64,
    /// Chance per step that a broker is cut off from everyone.
    pub partition_rate: f64,
    /// Chance that a message is dropped.
    pub drop_rate: f64,
    /// Message delay: 1..=this many ms.
    pub delay_ms_max: i64,
    /// Chance that a message is delayed 2-10 times longer (reordering).
    pub long_delay_rate: f64,
    /// How long a crashed broker stays down (ms, min and max).
    pub down_ms: (i64, i64),
    /// How long a network partition lasts (ms, min and max).
    pub partition_ms: (i64, i64),
    /// Flush interval of every broker (ms, min and max; drawn anew each time).
    pub flush_ms: (i64, i64),
    /// `replica.lag.time.max.ms`.
    pub replica_lag_time_max_ms: i64,
    /// `broker.session.timeout.ms`.
    pub session_timeout_ms: i64,
    /// `broker.heartbeat.interval.ms`.
    pub heartbeat_ms: i64,
    /// Re-send an unanswered AlterPartition after this long.
    pub alter_partition_retry_ms: i64,
    /// A follower waits 0..=this before its next fetch (long-poll stand-in).
    pub fetch_backoff_ms: i64,
    /// A fetch unanswered this long is sent again.
    pub fetch_timeout_ms: i64,
    /// Most entries in one fetch answer.
    pub max_fetch_entries: usize,
    /// A shell rule broken on purpose.
    pub broken: Option<BrokenRule>,
    /// Leaders send the member epochs `LeaderState` quotes (each ISR
    /// member's broker epoch, as seen in that member's fetches and frozen
    /// when the proposal is first sent: KIP-903's `NewIsrWithEpochs`), and
    /// weir-core's
    /// `plan_alter_partition` refuses a joiner whose epoch is not its
    /// current registration (INELIGIBLE_REPLICA). Off: requests carry no
    /// epochs (pre-KIP-903), and the stale-incarnation mix loses
    /// acknowledged records.
    pub kip903_controller_check: bool,
    /// The controller's election rules (ELR, unclean election); the
    /// default is the pre-KIP-966 one.
    pub election: ElectionPolicy,
    /// Print every event to stderr as it happens.
    pub verbose: bool,
}

impl SimConfig {
    /// The default mix (3 brokers, RF=3, min ISR 2) for `seed`.
    pub fn new(seed: u64) -> SimConfig {
        SimConfig {
            seed,
            mix: Mix::Default,
            brokers: 3,
            min_isr: 2,
            steps: 3_000,
            step_ms_max: 10,
            produce_rate: 0.25,
            consume_rate: 0.05,
            crash_rate: 0.002,
            power_loss_rate: 0.001,
            partition_rate: 0.001,
            drop_rate: 0.02,
            delay_ms_max: 8,
            long_delay_rate: 0.03,
            down_ms: (20, 1_500),
            partition_ms: (50, 1_500),
            flush_ms: (20, 400),
            replica_lag_time_max_ms: 300,
            session_timeout_ms: 450,
            heartbeat_ms: 100,
            alter_partition_retry_ms: 250,
            fetch_backoff_ms: 6,
            fetch_timeout_ms: 200,
            max_fetch_entries: 25,
            broken: None,
            kip903_controller_check: false,
            election: ElectionPolicy::default(),
            verbose: false,
        }
    }

    /// The preset `mix` for `seed`.
    pub fn with_mix(seed: u64, mix: Mix) -> SimConfig {
        let mut c = SimConfig::new(seed);
        c.mix = mix;
        match mix {
            Mix::Default => {}
            Mix::Lossy => {
                c.drop_rate = 0.15;
                c.long_delay_rate = 0.15;
                c.delay_ms_max = 30;
            }
            Mix::Crashy => {
                c.crash_rate = 0.01;
                c.partition_rate = 0.005;
                c.power_loss_rate = 0.005;
            }
            Mix::SlowMetadata => {
                c.heartbeat_ms = 150;
                c.session_timeout_ms = 1_000;
                c.drop_rate = 0.1;
                c.long_delay_rate = 0.2;
                c.delay_ms_max = 50;
                c.crash_rate = 0.005;
            }
            Mix::Rf5 => {
                c.brokers = 5;
                c.min_isr = 3;
                c.crash_rate = 0.004;
            }
            Mix::MinIsr1 => {
                c.min_isr = 1;
                c.power_loss_rate = 0.0;
                c.crash_rate = 0.004;
            }
            Mix::Elr | Mix::Unclean => {
                c.crash_rate = 0.01;
                c.partition_rate = 0.005;
                c.power_loss_rate = 0.005;
                c.election = ElectionPolicy {
                    elr_enabled: true,
                    default_min_isr: c.min_isr as i32,
                    default_unclean: mix == Mix::Unclean,
                };
            }
            Mix::StaleIncarnations => {
                c.long_delay_rate = 0.2;
                c.delay_ms_max = 40;
                c.down_ms = (5, 60);
                c.power_loss_rate = 0.01;
                c.flush_ms = (100, 800);
            }
        }
        c
    }
}

/// What happened in a run (so tests can show faults really happened).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimReport {
    /// Runs aggregated into this report.
    pub runs: u64,
    /// Steps run.
    pub steps: u64,
    /// Simulated milliseconds.
    pub sim_ms: i64,
    /// acks=all produces acknowledged (HWM passed them).
    pub acked: u64,
    /// Produces refused with NOT_ENOUGH_REPLICAS (ISR below min at append).
    pub refused_min_isr: u64,
    /// Produces with no broker acting as leader.
    pub no_leader: u64,
    /// Appended produces never answered (leader crashed or deposed).
    pub unanswered: u64,
    /// Records the consumer read.
    pub consumed: u64,
    /// Leader elections committed (a new leader, not -1).
    pub elections: u64,
    /// Partition left leaderless.
    pub leaderless: u64,
    /// ISR shrinks committed.
    pub isr_shrinks: u64,
    /// ISR expansions committed.
    pub isr_expands: u64,
    /// AlterPartition requests the controller refused.
    pub alter_refused: u64,
    /// Brokers fenced.
    pub fences: u64,
    /// Brokers unfenced.
    pub unfences: u64,
    /// SIGKILL crashes.
    pub crashes: u64,
    /// Power losses.
    pub power_losses: u64,
    /// Entries lost to power loss (unflushed).
    pub lost_unflushed: u64,
    /// Restarts (new incarnations).
    pub restarts: u64,
    /// Network partitions.
    pub partitions: u64,
    /// Follower truncations that removed entries.
    pub truncations: u64,
    /// Entries removed by them.
    pub truncated_entries: u64,
    /// Messages sent.
    pub messages: u64,
    /// Messages dropped (loss or partition).
    pub dropped: u64,
    /// Runs stopped early at Kafka's known limit without KIP-966: the
    /// controller elected, as the only ISR member, a broker that lost
    /// unflushed data to power loss and has not rejoined the ISR since
    /// (unclean recovery; ELR is issue 6).
    pub known_limit_stops: u64,
    /// FNV-1a hash of every event of the run(s): equal runs, equal hash.
    pub trace_hash: u64,
}

impl SimReport {
    /// Add `other` into `self` (hashes are combined).
    pub fn add(&mut self, o: &SimReport) {
        self.runs += o.runs;
        self.steps += o.steps;
        self.sim_ms += o.sim_ms;
        self.acked += o.acked;
        self.refused_min_isr += o.refused_min_isr;
        self.no_leader += o.no_leader;
        self.unanswered += o.unanswered;
        self.consumed += o.consumed;
        self.elections += o.elections;
        self.leaderless += o.leaderless;
        self.isr_shrinks += o.isr_shrinks;
        self.isr_expands += o.isr_expands;
        self.alter_refused += o.alter_refused;
        self.fences += o.fences;
        self.unfences += o.unfences;
        self.crashes += o.crashes;
        self.power_losses += o.power_losses;
        self.lost_unflushed += o.lost_unflushed;
        self.restarts += o.restarts;
        self.partitions += o.partitions;
        self.truncations += o.truncations;
        self.truncated_entries += o.truncated_entries;
        self.messages += o.messages;
        self.dropped += o.dropped;
        self.known_limit_stops += o.known_limit_stops;
        self.trace_hash = self.trace_hash.rotate_left(5) ^ o.trace_hash;
    }
}

/// Which invariant failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invariant {
    /// 1: an acknowledged record is missing from (or different in) the
    /// log of the serving leader.
    AckedRecordLost,
    /// 2: two live replicas differ below the smaller of their HWMs.
    ReplicasDiverge,
    /// 3: a leader's HWM went down within its epoch.
    HighWatermarkDecreased,
    /// 4: a consumer read at or beyond the HWM, saw two values at one
    /// offset, or a record it saw is gone from a later leader.
    ConsumerRead,
    /// 5: two brokers acted as leader in one leader epoch.
    TwoLeadersInOneEpoch,
    /// The model itself broke (a record the image refused, ...).
    Internal,
}

/// A failed run: everything needed to replay and read it.
#[derive(Debug, Clone)]
pub struct SimFailure {
    /// The seed.
    pub seed: u64,
    /// The mix it ran.
    pub mix: Mix,
    /// The step it failed at.
    pub step: u64,
    /// Simulated time.
    pub now_ms: i64,
    /// The invariant.
    pub invariant: Invariant,
    /// What exactly.
    pub message: String,
    /// The last events before it.
    pub trace: Vec<String>,
}

impl fmt::Display for SimFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {} (mix {}) failed {:?} at step {} (t={} ms): {}",
            self.seed,
            self.mix.name(),
            self.invariant,
            self.step,
            self.now_ms,
            self.message
        )?;
        writeln!(
            f,
            "replay: WEIR_SIM_SEED={} WEIR_SIM_MIX={} cargo test -p weir-sim replay -- --nocapture",
            self.seed,
            self.mix.name()
        )?;
        writeln!(f, "last {} events:", self.trace.len())?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Ctrl,
    B(i32),
}

#[derive(Debug, Clone)]
enum FetchBody {
    Entries { entries: Vec<Entry>, hwm: i64 },
    Diverging { epoch: i32, end_offset: i64 },
    Error { out_of_range: bool, leader_leo: i64 },
}

#[derive(Debug, Clone)]
enum Msg {
    Fetch {
        broker_epoch: i64,
        leader_epoch: i32,
        fetch_offset: i64,
        last_fetched_epoch: Option<i32>,
        fetch_id: u64,
    },
    FetchResp {
        leader_epoch: i32,
        fetch_id: u64,
        body: FetchBody,
    },
    /// The request (with KIP-903's member epochs when
    /// [`SimConfig::kip903_controller_check`] is on).
    AlterPartition(AlterPartitionRequest),
    AlterPartitionResp {
        leader_epoch: i32,
        partition_epoch: i32,
        isr: Vec<i32>,
        /// 0, or the refusal's Kafka error code.
        error: i16,
    },
    MetadataUpdate {
        upto: usize,
    },
    Register {
        incarnation: Uuid,
    },
    RegisterResp {
        incarnation: Uuid,
        broker_epoch: i64,
        upto: usize,
    },
    Heartbeat {
        broker_epoch: i64,
        applied: u64,
    },
    HeartbeatResp {
        upto: usize,
    },
}

#[derive(Debug)]
struct Envelope {
    from: Node,
    from_inc: u64,
    to: Node,
    to_inc: Option<u64>,
    msg: Msg,
}

#[derive(Debug)]
struct LeaderRole {
    /// The rules; they keep each replica's broker epoch from its fetches
    /// and freeze a proposal's member epochs for re-sends (KIP-903).
    state: LeaderState,
    epoch: i32,
    served: bool,
    pending: Vec<(i64, u64)>,
    last_hwm: i64,
}

#[derive(Debug)]
struct FollowerRole {
    leader: i32,
    epoch: i32,
    inflight: Option<(u64, i64)>,
    next_fetch_at: i64,
}

#[derive(Debug)]
enum Role {
    None,
    Leader(Box<LeaderRole>),
    Follower(FollowerRole),
}

#[derive(Debug)]
struct Broker {
    id: i32,
    alive: bool,
    incarnation: u64,
    down_until: i64,
    // Survives a SIGKILL (page cache); power loss cuts the unflushed tail.
    log: ModelLog,
    checkpoint_hwm: i64,
    // Process memory.
    hwm: i64,
    next_flush: i64,
    broker_epoch: Option<i64>,
    next_register: i64,
    image: MetadataImage,
    applied: usize,
    next_heartbeat: i64,
    known_leader_epoch: i32,
    role: Role,
}

impl Broker {
    fn incarnation_id(&self) -> Uuid {
        Uuid::from_u128(((self.id as u128) << 64) | self.incarnation as u128)
    }
}

fn isr_str(isr: &[i32]) -> String {
    let v: Vec<String> = isr.iter().map(|b| b.to_string()).collect();
    format!("[{}]", v.join(","))
}

/// One simulated cluster.
#[derive(Debug)]
pub struct Sim {
    cfg: SimConfig,
    rng: Rng,
    now: i64,
    step: u64,
    brokers: Vec<Broker>,
    ctrl_image: MetadataImage,
    ctrl_log: Vec<MetadataRecord>,
    sessions: BrokerSessions,
    queue: BTreeMap<(i64, u64), Envelope>,
    seq: u64,
    cut_until: Vec<i64>,
    acked: BTreeMap<i64, u64>,
    seen: BTreeMap<i64, u64>,
    consumer_pos: i64,
    leader_of_epoch: BTreeMap<i32, i32>,
    next_value: u64,
    next_fetch_id: u64,
    report: SimReport,
    /// Brokers that lost power and whose restarted incarnation is not back
    /// in the ISR yet, with their registration epoch at the power loss.
    tainted: Vec<Option<i64>>,
    known_limit: bool,
    trace: VecDeque<String>,
    failure: Option<(Invariant, String)>,
}

impl Sim {
    /// A cluster of `cfg.brokers` registered, unfenced brokers and one
    /// partition replicated on all of them (ISR = all, first replica leads).
    pub fn new(cfg: SimConfig) -> Sim {
        let n = cfg.brokers;
        let mut rng = Rng::new(cfg.seed);
        let brokers = (1..=n as i32)
            .map(|id| Broker {
                id,
                alive: true,
                incarnation: 0,
                down_until: 0,
                log: ModelLog::default(),
                checkpoint_hwm: 0,
                hwm: 0,
                next_flush: rng.range(cfg.flush_ms.0, cfg.flush_ms.1),
                broker_epoch: None,
                next_register: i64::MAX,
                image: MetadataImage::new(),
                applied: 0,
                next_heartbeat: rng.range(1, cfg.heartbeat_ms),
                known_leader_epoch: -1,
                role: Role::None,
            })
            .collect();
        let mut sim = Sim {
            sessions: BrokerSessions::new(cfg.session_timeout_ms),
            rng,
            now: 0,
            step: 0,
            brokers,
            ctrl_image: MetadataImage::new(),
            ctrl_log: Vec::new(),
            queue: BTreeMap::new(),
            seq: 0,
            cut_until: vec![0; n],
            acked: BTreeMap::new(),
            seen: BTreeMap::new(),
            consumer_pos: 0,
            leader_of_epoch: BTreeMap::new(),
            next_value: 1,
            next_fetch_id: 1,
            report: SimReport::default(),
            tainted: vec![None; n],
            known_limit: false,
            trace: VecDeque::new(),
            failure: None,
            cfg,
        };
        for i in 0..n {
            let req = BrokerRegistrationRequest {
                broker_id: sim.brokers[i].id,
                incarnation_id: sim.brokers[i].incarnation_id(),
                listeners: vec![],
                rack: None,
                previous_broker_epoch: -1,
            };
            let (epoch, records) =
                plan_register_broker_with(&sim.ctrl_image, &req, &sim.cfg.election).unwrap();
            sim.commit(records);
            let index = sim.ctrl_log.len() as u64;
            sim.sessions.registered(req.broker_id, 0, index);
            sim.brokers[i].broker_epoch = Some(epoch);
        }
        for id in 1..=n as i32 {
            let records = plan_broker_unfenced_with(&sim.ctrl_image, id, &sim.cfg.election);
            sim.commit(records);
        }
        let mut replicas: Vec<i32> = (1..=n as i32).collect();
        for i in (1..n).rev() {
            let j = sim.rng.index(i + 1);
            replicas.swap(i, j);
        }
        sim.commit(vec![
            MetadataRecord::Topic {
                name: "sim".into(),
                topic_id: TOPIC_ID,
            },
            MetadataRecord::Partition {
                topic_id: TOPIC_ID,
                partition: 0,
                replicas: replicas.clone(),
                isr: replicas.clone(),
                elr: vec![],
                last_known_elr: vec![],
                leader: replicas[0],
                leader_epoch: 0,
                partition_epoch: 0,
            },
        ]);
        let upto = sim.ctrl_log.len();
        for i in 0..n {
            sim.catch_up(i, upto);
        }
        sim
    }

    /// Run every step, checking the invariants after each.
    pub fn run(mut self) -> Result<SimReport, SimFailure> {
        self.report.runs = 1;
        for step in 1..=self.cfg.steps {
            self.step = step;
            self.now += self.rng.range(1, self.cfg.step_ms_max);
            self.deliver_due();
            self.timers();
            self.controller_tick();
            self.random_events();
            if self.failure.is_none() {
                self.check();
            }
            if let Some((invariant, message)) = self.failure.take() {
                return Err(SimFailure {
                    seed: self.cfg.seed,
                    mix: self.cfg.mix,
                    step,
                    now_ms: self.now,
                    invariant,
                    message,
                    trace: self.trace.iter().cloned().collect(),
                });
            }
            if self.known_limit {
                self.report.steps = step;
                self.report.sim_ms = self.now;
                return Ok(self.report);
            }
        }
        self.report.steps = self.cfg.steps;
        self.report.sim_ms = self.now;
        Ok(self.report)
    }

    // ---------------------------------------------------------------- events

    fn ev(&mut self, text: String) {
        let line = format!("{:>6} t={:>6} {}", self.step, self.now, text);
        let mut h = self.report.trace_hash ^ 0xcbf2_9ce4_8422_2325;
        for b in line.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.report.trace_hash = h;
        if self.cfg.verbose {
            eprintln!("{line}");
        }
        if self.trace.len() == TRACE_LEN {
            self.trace.pop_front();
        }
        self.trace.push_back(line);
    }

    fn fail(&mut self, invariant: Invariant, message: String) {
        if self.failure.is_none() {
            self.ev(format!("!! {invariant:?}: {message}"));
            self.failure = Some((invariant, message));
        }
    }

    fn cut(&self, node: Node) -> bool {
        match node {
            Node::Ctrl => false,
            Node::B(id) => self.now < self.cut_until[(id - 1) as usize],
        }
    }

    fn send(&mut self, from: Node, from_inc: u64, to: Node, to_inc: Option<u64>, msg: Msg) {
        self.report.messages += 1;
        if self.cut(from) || self.cut(to) || self.rng.chance(self.cfg.drop_rate) {
            self.report.dropped += 1;
            return;
        }
        let mut delay = self.rng.range(1, self.cfg.delay_ms_max);
        if self.rng.chance(self.cfg.long_delay_rate) {
            delay *= self.rng.range(2, 10);
        }
        self.seq += 1;
        self.queue.insert(
            (self.now + delay, self.seq),
            Envelope {
                from,
                from_inc,
                to,
                to_inc,
                msg,
            },
        );
    }

    fn deliver_due(&mut self) {
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let env = entry.remove();
            if self.cut(env.from) || self.cut(env.to) {
                self.report.dropped += 1;
                continue;
            }
            match env.to {
                Node::Ctrl => {
                    if let Node::B(id) = env.from {
                        self.controller_handle(id, env.from_inc, env.msg);
                    }
                }
                Node::B(id) => {
                    let b = &self.brokers[(id - 1) as usize];
                    if !b.alive || env.to_inc.is_some_and(|i| i != b.incarnation) {
                        continue;
                    }
                    self.broker_handle((id - 1) as usize, env.from, env.from_inc, env.msg);
                }
            }
            if self.failure.is_some() {
                return;
            }
        }
    }

    // ------------------------------------------------------------ controller

    fn commit(&mut self, records: Vec<MetadataRecord>) {
        if records.is_empty() {
            return;
        }
        for r in records {
            let text = match &r {
                MetadataRecord::PartitionChange { leader, isr, .. } => {
                    let old = self.ctrl_image.partition(&TOPIC_ID, 0).cloned();
                    if let Some(l) = leader {
                        if *l >= 0 {
                            self.report.elections += 1;
                        } else {
                            self.report.leaderless += 1;
                        }
                    }
                    if let (Some(isr), Some(old)) = (isr, &old) {
                        if isr.len() < old.isr.len() {
                            self.report.isr_shrinks += 1;
                        } else if isr.len() > old.isr.len() {
                            self.report.isr_expands += 1;
                            for b in isr {
                                // Back only when a *later* incarnation joins
                                // (a late fetch of the lost one does not count).
                                let i = (*b - 1) as usize;
                                let now_epoch = self.ctrl_image.broker(*b).map(|r| r.broker_epoch);
                                if !old.isr.contains(b)
                                    && self.tainted[i].is_some_and(|e| now_epoch > Some(e))
                                {
                                    self.tainted[i] = None;
                                }
                            }
                        }
                    }
                    if let (Some(l), Some(old)) = (leader, &old) {
                        let new_isr = isr.as_ref().unwrap_or(&old.isr);
                        if *l >= 0
                            && self.tainted[(*l - 1) as usize].is_some()
                            && *new_isr == vec![*l]
                        {
                            self.known_limit = true;
                            self.report.known_limit_stops += 1;
                        }
                    }
                    let old = old.map_or((-1, -1), |p| (p.leader_epoch, p.partition_epoch));
                    format!(
                        "ctrl commit PartitionChange leader={:?} isr={} (was le={} pe={})",
                        leader,
                        isr.as_deref().map_or("-".into(), isr_str),
                        old.0,
                        old.1
                    )
                }
                MetadataRecord::FenceBroker { broker_id, .. } => {
                    self.report.fences += 1;
                    format!("ctrl commit FenceBroker {broker_id}")
                }
                MetadataRecord::UnfenceBroker { broker_id, .. } => {
                    self.report.unfences += 1;
                    format!("ctrl commit UnfenceBroker {broker_id}")
                }
                MetadataRecord::RegisterBroker {
                    broker_id,
                    broker_epoch,
                    ..
                } => format!("ctrl commit RegisterBroker {broker_id} epoch {broker_epoch}"),
                other => format!("ctrl commit {other:?}"),
            };
            self.ev(text);
            if self.known_limit {
                self.ev(
                    "known limit (KIP-966, issue 6): a power-lost broker is elected as the \
                         only ISR member; the run stops here"
                        .into(),
                );
            }
            if let Err(e) = self.ctrl_image.apply(&r) {
                self.fail(
                    Invariant::Internal,
                    format!("controller image refused {r:?}: {e}"),
                );
                return;
            }
            self.ctrl_log.push(r);
        }
        let upto = self.ctrl_log.len();
        for id in 1..=self.cfg.brokers as i32 {
            self.send(
                Node::Ctrl,
                0,
                Node::B(id),
                None,
                Msg::MetadataUpdate { upto },
            );
        }
    }

    fn controller_handle(&mut self, id: i32, from_inc: u64, msg: Msg) {
        let reply_to = Some(from_inc);
        match msg {
            Msg::Register { incarnation } => {
                let req = BrokerRegistrationRequest {
                    broker_id: id,
                    incarnation_id: incarnation,
                    listeners: vec![],
                    rack: None,
                    previous_broker_epoch: -1,
                };
                if let Ok((broker_epoch, records)) =
                    plan_register_broker_with(&self.ctrl_image, &req, &self.cfg.election)
                {
                    let fresh = !records.is_empty();
                    self.commit(records);
                    if fresh {
                        let index = self.ctrl_log.len() as u64;
                        self.sessions.registered(id, self.now, index);
                    }
                    let upto = self.ctrl_log.len();
                    self.send(
                        Node::Ctrl,
                        0,
                        Node::B(id),
                        reply_to,
                        Msg::RegisterResp {
                            incarnation,
                            broker_epoch,
                            upto,
                        },
                    );
                }
            }
            Msg::Heartbeat {
                broker_epoch,
                applied,
            } => {
                let index = self.ctrl_log.len() as u64;
                let verdict = self.sessions.heartbeat(
                    &self.ctrl_image,
                    id,
                    broker_epoch,
                    applied,
                    self.now,
                    index,
                );
                if verdict == HeartbeatVerdict::Unfence {
                    let records =
                        plan_broker_unfenced_with(&self.ctrl_image, id, &self.cfg.election);
                    self.commit(records);
                }
                let upto = self.ctrl_log.len();
                self.send(
                    Node::Ctrl,
                    0,
                    Node::B(id),
                    reply_to,
                    Msg::HeartbeatResp { upto },
                );
            }
            Msg::AlterPartition(req) => {
                if req.broker_id != id {
                    return;
                }
                // The KIP-903 broker-epoch check is weir-core's own
                // (`plan_alter_partition`), applied when the request
                // carries epochs (`kip903_controller_check`).
                let result = plan_alter_partition_with(&self.ctrl_image, &req, &self.cfg.election);
                let error = result.as_ref().map_or_else(|e| e.error_code(), |_| 0);
                match result {
                    Ok(records) => self.commit(records),
                    Err(e) => {
                        self.report.alter_refused += 1;
                        self.ev(format!(
                            "ctrl refuses AlterPartition from {id} isr={} le={} pe={}: {e:?}",
                            isr_str(&req.new_isr),
                            req.leader_epoch,
                            req.partition_epoch
                        ));
                    }
                }
                self.send(
                    Node::Ctrl,
                    0,
                    Node::B(id),
                    reply_to,
                    Msg::AlterPartitionResp {
                        leader_epoch: req.leader_epoch,
                        partition_epoch: req.partition_epoch,
                        isr: req.new_isr,
                        error,
                    },
                );
            }
            _ => {}
        }
    }

    fn controller_tick(&mut self) {
        let expired = self.sessions.expired(&self.ctrl_image, self.now);
        for id in expired {
            self.ev(format!("ctrl: session of {id} expired"));
            let records = plan_broker_fenced_with(&self.ctrl_image, id, &self.cfg.election);
            self.commit(records);
        }
    }

    // ---------------------------------------------------------------- broker

    fn broker_handle(&mut self, i: usize, from: Node, from_inc: u64, msg: Msg) {
        match msg {
            Msg::MetadataUpdate { upto } | Msg::HeartbeatResp { upto } => self.catch_up(i, upto),
            Msg::RegisterResp {
                incarnation,
                broker_epoch,
                upto,
            } => {
                let b = &mut self.brokers[i];
                if incarnation == b.incarnation_id() && b.broker_epoch.is_none() {
                    b.broker_epoch = Some(broker_epoch);
                    let id = b.id;
                    self.ev(format!("b{id} registered with epoch {broker_epoch}"));
                }
                self.catch_up(i, upto);
            }
            Msg::Fetch {
                broker_epoch,
                leader_epoch,
                fetch_offset,
                last_fetched_epoch,
                fetch_id,
            } => {
                if let Node::B(replica) = from {
                    self.leader_handle_fetch(
                        i,
                        replica,
                        from_inc,
                        broker_epoch,
                        leader_epoch,
                        fetch_offset,
                        last_fetched_epoch,
                        fetch_id,
                    );
                }
            }
            Msg::FetchResp {
                leader_epoch,
                fetch_id,
                body,
            } => self.follower_handle_response(i, leader_epoch, fetch_id, body),
            Msg::AlterPartitionResp {
                leader_epoch,
                partition_epoch,
                isr,
                error,
            } => {
                // Only a refusal made against the very partition epoch the
                // proposal was based on proves it was not committed.
                let proves_not_committed = matches!(error, 42 | 107)
                    || (error != 0
                        && self.cfg.broken == Some(BrokenRule::DropProposalOnAnyRefusal));
                if !proves_not_committed {
                    return;
                }
                let b = &mut self.brokers[i];
                if let Role::Leader(l) = &mut b.role {
                    if l.epoch == leader_epoch
                        && l.state.partition_epoch() == partition_epoch
                        && l.state.pending_isr() == Some(isr.as_slice())
                    {
                        l.state.on_alter_isr_failed();
                        let id = b.id;
                        self.ev(format!(
                            "b{id} leader: proposal {} refused ({error}), dropped",
                            isr_str(&isr)
                        ));
                    }
                }
            }
            Msg::Register { .. } | Msg::Heartbeat { .. } | Msg::AlterPartition(..) => {}
        }
    }

    /// Apply the controller's committed records up to `upto`, then act on
    /// the partition's registration.
    fn catch_up(&mut self, i: usize, upto: usize) {
        if self.brokers[i].broker_epoch.is_none() {
            return;
        }
        let upto = upto.min(self.ctrl_log.len());
        let b = &mut self.brokers[i];
        if upto <= b.applied {
            return;
        }
        let mut refused = None;
        for r in &self.ctrl_log[b.applied..upto] {
            if let Err(e) = b.image.apply(r) {
                refused = Some(format!("b{}'s image refused {r:?}: {e}", b.id));
                break;
            }
        }
        if let Some(msg) = refused {
            self.fail(Invariant::Internal, msg);
            return;
        }
        let b = &mut self.brokers[i];
        b.applied = upto;
        self.react(i);
    }

    fn react(&mut self, i: usize) {
        let b = &self.brokers[i];
        let id = b.id;
        let Some(epoch) = b.broker_epoch else { return };
        if b.image.broker(id).map(|r| r.broker_epoch) != Some(epoch) {
            return;
        }
        let Some(p) = b.image.partition(&TOPIC_ID, 0).cloned() else {
            return;
        };
        let now = self.now;
        if let Role::Leader(l) = &mut self.brokers[i].role {
            if p.leader == id && p.leader_epoch == l.epoch {
                if p.partition_epoch > l.state.partition_epoch() {
                    let actions = l.state.on_partition_change(
                        p.partition_epoch,
                        p.replicas.clone(),
                        p.isr.clone(),
                        now,
                    );
                    self.ev(format!(
                        "b{id} leader le={}: partition epoch {} isr={}",
                        p.leader_epoch,
                        p.partition_epoch,
                        isr_str(&p.isr)
                    ));
                    self.leader_actions(i, actions);
                }
                return;
            }
        }
        if p.leader_epoch > self.brokers[i].known_leader_epoch {
            self.end_role(i);
            self.brokers[i].known_leader_epoch = p.leader_epoch;
            if p.leader == id {
                self.become_leader(i, &p);
            } else {
                self.brokers[i].role = Role::Follower(FollowerRole {
                    leader: p.leader,
                    epoch: p.leader_epoch,
                    inflight: None,
                    next_fetch_at: now,
                });
                self.ev(format!(
                    "b{id} follows {} at le={} (leo {}, hwm {})",
                    p.leader,
                    p.leader_epoch,
                    self.brokers[i].log.leo(),
                    self.brokers[i].hwm
                ));
            }
        }
    }

    fn end_role(&mut self, i: usize) {
        let role = std::mem::replace(&mut self.brokers[i].role, Role::None);
        if let Role::Leader(l) = role {
            self.report.unanswered += l.pending.len() as u64;
        }
    }

    fn become_leader(&mut self, i: usize, p: &PartitionRegistration) {
        let id = self.brokers[i].id;
        match self.leader_of_epoch.get(&p.leader_epoch) {
            Some(other) if *other != id => {
                let other = *other;
                self.fail(
                    Invariant::TwoLeadersInOneEpoch,
                    format!(
                        "b{id} acts as leader in epoch {} that b{other} led",
                        p.leader_epoch
                    ),
                );
                return;
            }
            _ => {
                self.leader_of_epoch.insert(p.leader_epoch, id);
            }
        }
        let config = ReplicationConfig {
            replica_lag_time_max_ms: self.cfg.replica_lag_time_max_ms,
            min_insync_replicas: p.effective_min_isr(self.cfg.min_isr as i32) as usize,
            alter_partition_retry_ms: self.cfg.alter_partition_retry_ms,
        };
        let b = &mut self.brokers[i];
        let state = LeaderState::new(
            id,
            p.leader_epoch,
            p.partition_epoch,
            p.replicas.clone(),
            p.isr.clone(),
            b.log.leo(),
            b.hwm,
            self.now,
            config,
        );
        b.hwm = state.high_watermark();
        let last_hwm = state.high_watermark();
        b.role = Role::Leader(Box::new(LeaderRole {
            state,
            epoch: p.leader_epoch,
            served: false,
            pending: Vec::new(),
            last_hwm,
        }));
        let text = format!(
            "b{id} becomes leader le={} pe={} isr={} (leo {}, hwm {})",
            p.leader_epoch,
            p.partition_epoch,
            isr_str(&p.isr),
            b.log.leo(),
            last_hwm
        );
        self.ev(text);
    }

    fn leader_actions(&mut self, i: usize, actions: Vec<Action>) {
        let kip903 = self.cfg.kip903_controller_check;
        for a in actions {
            let b = &mut self.brokers[i];
            let id = b.id;
            let from_inc = b.incarnation;
            let Role::Leader(l) = &mut b.role else { return };
            match a {
                Action::HighWatermark(h) => {
                    if h < l.last_hwm {
                        let (last, epoch) = (l.last_hwm, l.epoch);
                        self.fail(
                            Invariant::HighWatermarkDecreased,
                            format!("b{id} leader le={epoch}: HWM {last} -> {h}"),
                        );
                        return;
                    }
                    if h > b.log.leo() {
                        let leo = b.log.leo();
                        self.fail(
                            Invariant::ConsumerRead,
                            format!("b{id} leader HWM {h} beyond its LEO {leo}"),
                        );
                        return;
                    }
                    l.last_hwm = h;
                    b.hwm = h;
                    let done: Vec<(i64, u64)> =
                        l.pending.iter().copied().filter(|(o, _)| *o < h).collect();
                    l.pending.retain(|(o, _)| *o >= h);
                    for (offset, value) in done {
                        self.record_ack(id, offset, value);
                    }
                }
                Action::AlterIsr {
                    isr,
                    partition_epoch,
                    member_epochs,
                } => {
                    let req = AlterPartitionRequest {
                        broker_id: id,
                        topic_id: TOPIC_ID,
                        partition: 0,
                        leader_epoch: l.epoch,
                        partition_epoch,
                        new_isr: isr.clone(),
                        // weir-core's controller checks KIP-903 epochs when
                        // they are given.
                        new_isr_broker_epochs: if kip903 { member_epochs } else { Vec::new() },
                        leader_recovered: false,
                    };
                    self.ev(format!(
                        "b{id} leader le={}: AlterPartition isr={} pe={partition_epoch}",
                        req.leader_epoch,
                        isr_str(&isr)
                    ));
                    self.send(
                        Node::B(id),
                        from_inc,
                        Node::Ctrl,
                        None,
                        Msg::AlterPartition(req),
                    );
                }
            }
        }
    }

    fn record_ack(&mut self, id: i32, offset: i64, value: u64) {
        self.report.acked += 1;
        if let Some(old) = self.acked.insert(offset, value) {
            if old != value {
                self.fail(
                    Invariant::AckedRecordLost,
                    format!(
                        "b{id} acknowledged value {value} at offset {offset}, \
                         where value {old} was acknowledged before"
                    ),
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn leader_handle_fetch(
        &mut self,
        i: usize,
        replica: i32,
        replica_inc: u64,
        broker_epoch: i64,
        leader_epoch: i32,
        fetch_offset: i64,
        last_fetched_epoch: Option<i32>,
        fetch_id: u64,
    ) {
        let now = self.now;
        let b = &mut self.brokers[i];
        let id = b.id;
        let from_inc = b.incarnation;
        let known_epoch = b.image.broker(replica).map(|r| r.broker_epoch);
        let may_join = b
            .image
            .broker(replica)
            .is_some_and(|r| !r.fenced && r.broker_epoch == broker_epoch);
        let mut reply = None;
        let mut actions = Vec::new();
        match &mut b.role {
            Role::Leader(l) if l.epoch == leader_epoch => {
                if let Some(lfe) = last_fetched_epoch {
                    let (e, end) = b
                        .log
                        .end_offset_for(lfe, Some((l.epoch, l.state.epoch_start_offset())));
                    if end < fetch_offset || e < lfe {
                        reply = Some(FetchBody::Diverging {
                            epoch: e,
                            end_offset: end,
                        });
                    }
                }
                if reply.is_none() && known_epoch.is_some_and(|k| broker_epoch < k) {
                    // A fetch from an older incarnation of the replica
                    // (KIP-903: the leader checks the broker epoch).
                    reply = Some(FetchBody::Error {
                        out_of_range: false,
                        leader_leo: -1,
                    });
                }
                if reply.is_none() {
                    let fetch = FollowerFetch {
                        replica,
                        broker_epoch,
                        fetch_offset,
                        may_join_isr: may_join,
                    };
                    match l.state.on_follower_fetch(fetch, now) {
                        Ok(a) => {
                            l.served = true;
                            actions = a;
                        }
                        Err(FetchRejection::OffsetOutOfRange) => {
                            reply = Some(FetchBody::Error {
                                out_of_range: true,
                                leader_leo: b.log.leo(),
                            })
                        }
                        Err(FetchRejection::NotAReplica) => {
                            reply = Some(FetchBody::Error {
                                out_of_range: false,
                                leader_leo: -1,
                            })
                        }
                    }
                }
            }
            _ => {
                reply = Some(FetchBody::Error {
                    out_of_range: false,
                    leader_leo: -1,
                })
            }
        }
        if let Some(FetchBody::Diverging { epoch, end_offset }) = &reply {
            self.ev(format!(
                "b{id} leader: fetch from b{replica} at {fetch_offset} (epoch {last_fetched_epoch:?}) \
                 diverges: epoch {epoch} ends at {end_offset}"
            ));
        }
        if reply.is_none() {
            self.leader_actions(i, actions);
            let b = &self.brokers[i];
            let start = fetch_offset.max(0) as usize;
            let end = (start + self.cfg.max_fetch_entries).min(b.log.entries().len());
            reply = Some(FetchBody::Entries {
                entries: b.log.entries()[start.min(end)..end].to_vec(),
                hwm: b.hwm,
            });
        }
        let body = reply.unwrap_or(FetchBody::Error {
            out_of_range: false,
            leader_leo: -1,
        });
        self.send(
            Node::B(id),
            from_inc,
            Node::B(replica),
            Some(replica_inc),
            Msg::FetchResp {
                leader_epoch,
                fetch_id,
                body,
            },
        );
    }

    fn follower_handle_response(
        &mut self,
        i: usize,
        leader_epoch: i32,
        fetch_id: u64,
        body: FetchBody,
    ) {
        let now = self.now;
        let backoff = self.rng.range(0, self.cfg.fetch_backoff_ms);
        let b = &mut self.brokers[i];
        let id = b.id;
        let Role::Follower(f) = &mut b.role else {
            return;
        };
        if f.epoch != leader_epoch || f.inflight.map(|x| x.0) != Some(fetch_id) {
            return;
        }
        f.inflight = None;
        f.next_fetch_at = now + backoff;
        match body {
            FetchBody::Entries { entries, hwm } => {
                if entries.first().is_some_and(|e| e.offset != b.log.leo()) {
                    return;
                }
                for e in entries {
                    b.log.append(e);
                }
                let new = follower_high_watermark(hwm, b.log.leo());
                if new > b.hwm {
                    b.hwm = new;
                }
            }
            FetchBody::Diverging { epoch, end_offset } => {
                // weir-core's rule (Kafka's getOffsetTruncationState).
                let t = truncation_for_divergence(
                    epoch,
                    end_offset,
                    b.log.floor_end(epoch),
                    b.log.leo(),
                    b.hwm,
                );
                let why = if t.complete {
                    "diverging epoch"
                } else {
                    "diverging epoch, incomplete"
                };
                self.truncate(i, t.offset, why);
            }
            FetchBody::Error {
                out_of_range,
                leader_leo,
            } => {
                if out_of_range {
                    self.ev(format!(
                        "b{id}: fetch out of range, leader leo {leader_leo}"
                    ));
                    self.truncate(i, leader_leo, "offset out of range");
                } else {
                    f.next_fetch_at = now + 5 * self.cfg.fetch_backoff_ms;
                }
            }
        }
    }

    fn truncate(&mut self, i: usize, target: i64, why: &str) {
        let b = &mut self.brokers[i];
        let hwm_before = b.hwm;
        let removed = b.log.truncate(target);
        if removed == 0 {
            return;
        }
        b.hwm = b.hwm.min(b.log.leo());
        b.checkpoint_hwm = b.checkpoint_hwm.min(b.log.leo());
        let (id, leo) = (b.id, b.log.leo());
        self.report.truncations += 1;
        self.report.truncated_entries += removed as u64;
        self.ev(format!(
            "b{id} truncates to {leo} ({why}): {removed} entries removed, hwm {hwm_before} -> {}",
            self.brokers[i].hwm
        ));
    }

    // ---------------------------------------------------------------- timers

    fn timers(&mut self) {
        for i in 0..self.brokers.len() {
            if self.failure.is_some() {
                return;
            }
            if !self.brokers[i].alive {
                if self.now >= self.brokers[i].down_until {
                    self.restart(i);
                }
                continue;
            }
            let now = self.now;
            let b = &mut self.brokers[i];
            let (id, inc) = (b.id, b.incarnation);
            if now >= b.next_flush {
                b.log.flush();
                b.checkpoint_hwm = b.hwm;
                b.next_flush = now + self.rng.range(self.cfg.flush_ms.0, self.cfg.flush_ms.1);
            }
            match b.broker_epoch {
                None => {
                    if now >= b.next_register {
                        b.next_register = now + 200;
                        let incarnation = b.incarnation_id();
                        self.send(
                            Node::B(id),
                            inc,
                            Node::Ctrl,
                            None,
                            Msg::Register { incarnation },
                        );
                    }
                }
                Some(broker_epoch) => {
                    if now >= b.next_heartbeat {
                        b.next_heartbeat = now + self.cfg.heartbeat_ms;
                        let applied = b.image.records_applied();
                        self.send(
                            Node::B(id),
                            inc,
                            Node::Ctrl,
                            None,
                            Msg::Heartbeat {
                                broker_epoch,
                                applied,
                            },
                        );
                    }
                }
            }
            let b = &mut self.brokers[i];
            match &mut b.role {
                Role::Leader(l) => {
                    let actions = l.state.on_tick(now);
                    self.leader_actions(i, actions);
                }
                Role::Follower(f) => {
                    let due = f.leader >= 0
                        && now >= f.next_fetch_at
                        && f.inflight
                            .is_none_or_timeout(now, self.cfg.fetch_timeout_ms);
                    if due {
                        let fetch_id = self.next_fetch_id;
                        self.next_fetch_id += 1;
                        f.inflight = Some((fetch_id, now));
                        let last_fetched_epoch =
                            if self.cfg.broken == Some(BrokenRule::FollowersSkipTruncation) {
                                None
                            } else {
                                b.log.last_epoch()
                            };
                        let msg = Msg::Fetch {
                            broker_epoch: b.broker_epoch.unwrap_or(-1),
                            leader_epoch: f.epoch,
                            fetch_offset: b.log.leo(),
                            last_fetched_epoch,
                            fetch_id,
                        };
                        let leader = f.leader;
                        self.send(Node::B(id), inc, Node::B(leader), None, msg);
                    }
                }
                Role::None => {}
            }
        }
    }

    fn restart(&mut self, i: usize) {
        let now = self.now;
        let flush = self.rng.range(self.cfg.flush_ms.0, self.cfg.flush_ms.1);
        let b = &mut self.brokers[i];
        b.alive = true;
        b.incarnation += 1;
        b.hwm = b.checkpoint_hwm.min(b.log.leo());
        b.next_flush = now + flush;
        b.broker_epoch = None;
        b.next_register = now;
        b.image = MetadataImage::new();
        b.applied = 0;
        b.next_heartbeat = now;
        b.known_leader_epoch = -1;
        b.role = Role::None;
        let (id, leo, hwm) = (b.id, b.log.leo(), b.hwm);
        self.report.restarts += 1;
        self.ev(format!("b{id} restarts (leo {leo}, checkpoint hwm {hwm})"));
    }

    fn crash(&mut self, i: usize, power_loss: bool) {
        self.end_role(i);
        let down = self.rng.range(self.cfg.down_ms.0, self.cfg.down_ms.1);
        let b = &mut self.brokers[i];
        b.alive = false;
        b.down_until = self.now + down;
        let id = b.id;
        if power_loss {
            let lost = b.log.lose_unflushed();
            b.checkpoint_hwm = b.checkpoint_hwm.min(b.log.leo());
            let leo = b.log.leo();
            self.report.power_losses += 1;
            self.report.lost_unflushed += lost as u64;
            self.ev(format!(
                "b{id} POWER LOSS: {lost} unflushed entries lost (leo {leo}), down {down} ms"
            ));
        } else {
            self.report.crashes += 1;
            self.ev(format!("b{id} SIGKILL, down {down} ms"));
        }
    }

    // ------------------------------------------------------- clients, faults

    /// A broker acting as leader for a client: usually the controller's
    /// leader, sometimes any broker that still believes it leads.
    fn pick_leader(&mut self) -> Option<usize> {
        let acting: Vec<usize> = (0..self.brokers.len())
            .filter(|i| self.brokers[*i].alive && matches!(self.brokers[*i].role, Role::Leader(_)))
            .collect();
        if acting.is_empty() {
            return None;
        }
        let current = self
            .ctrl_image
            .partition(&TOPIC_ID, 0)
            .map(|p| (p.leader - 1) as usize);
        if let Some(c) = current {
            if acting.contains(&c) && self.rng.chance(0.85) {
                return Some(c);
            }
        }
        Some(acting[self.rng.index(acting.len())])
    }

    fn random_events(&mut self) {
        if self.rng.chance(self.cfg.produce_rate) {
            self.produce();
        }
        if self.rng.chance(self.cfg.consume_rate) {
            self.consume();
        }
        let n = self.brokers.len();
        // While a broker that lost power is not back in the ISR, no other
        // fault: at most one broker is "down or not yet back" then.
        let episode = self.tainted.iter().any(|t| t.is_some());
        if self.rng.chance(self.cfg.crash_rate) {
            let i = self.rng.index(n);
            if self.brokers[i].alive && !episode {
                self.crash(i, false);
            }
        }
        if self.rng.chance(self.cfg.power_loss_rate) {
            let i = self.rng.index(n);
            let isr = self
                .ctrl_image
                .partition(&TOPIC_ID, 0)
                .map(|p| p.isr.clone())
                .unwrap_or_default();
            let others_in_sync = self.brokers.iter().all(|b| {
                b.id == self.brokers[i].id
                    || (b.alive && isr.contains(&b.id) && self.ctrl_image.is_unfenced(b.id))
            });
            if self.brokers[i].alive && others_in_sync && !episode {
                let id = self.brokers[i].id;
                self.tainted[i] = Some(self.ctrl_image.broker(id).map_or(-1, |r| r.broker_epoch));
                self.crash(i, true);
            }
        }
        if self.rng.chance(self.cfg.partition_rate) && !episode {
            let i = self.rng.index(n);
            let len = self
                .rng
                .range(self.cfg.partition_ms.0, self.cfg.partition_ms.1);
            self.cut_until[i] = self.cut_until[i].max(self.now + len);
            self.report.partitions += 1;
            self.ev(format!("b{} cut off from everyone for {len} ms", i + 1));
        }
    }

    fn produce(&mut self) {
        let Some(i) = self.pick_leader() else {
            self.report.no_leader += 1;
            return;
        };
        let value = self.next_value;
        let broken_ack = self.cfg.broken == Some(BrokenRule::AckOnLeaderAppend);
        let b = &mut self.brokers[i];
        let id = b.id;
        let Role::Leader(l) = &mut b.role else { return };
        if !l.state.has_min_isr() {
            self.report.refused_min_isr += 1;
            return;
        }
        self.next_value += 1;
        let offset = b.log.leo();
        b.log.append(Entry {
            offset,
            leader_epoch: l.epoch,
            value,
        });
        l.served = true;
        if !broken_ack {
            l.pending.push((offset, value));
        }
        let actions = l.state.on_append(b.log.leo());
        self.ev(format!("b{id} leader appends value {value} at {offset}"));
        if broken_ack {
            self.record_ack(id, offset, value);
        }
        self.leader_actions(i, actions);
    }

    fn consume(&mut self) {
        let Some(i) = self.pick_leader() else { return };
        let b = &mut self.brokers[i];
        let id = b.id;
        let Role::Leader(l) = &mut b.role else { return };
        l.served = true;
        let hwm = l.state.high_watermark();
        if hwm > b.log.leo() {
            let leo = b.log.leo();
            self.fail(
                Invariant::ConsumerRead,
                format!("b{id} would serve a consumer up to HWM {hwm} beyond its LEO {leo}"),
            );
            return;
        }
        let from = self.consumer_pos;
        let to = hwm.min(from + 50);
        let mut read = Vec::new();
        for offset in from..to {
            if let Some(e) = b.log.get(offset) {
                read.push(*e);
            }
        }
        for e in read {
            self.report.consumed += 1;
            if let Some(old) = self.seen.insert(e.offset, e.value) {
                if old != e.value {
                    self.fail(
                        Invariant::ConsumerRead,
                        format!(
                            "consumer read value {} at offset {} from b{id}, but value {old} there before",
                            e.value, e.offset
                        ),
                    );
                    return;
                }
            }
        }
        if to > from {
            self.consumer_pos = to;
        }
    }

    // ------------------------------------------------------------ invariants

    fn check(&mut self) {
        if let Some((invariant, message)) = self.violation() {
            self.fail(invariant, message);
        }
    }

    fn violation(&self) -> Option<(Invariant, String)> {
        // 1 and 4: the current leader holds every acknowledged record and
        // every record a consumer saw, once it has served in its epoch.
        if let Some(p) = self.ctrl_image.partition(&TOPIC_ID, 0) {
            if p.leader >= 0 {
                let b = &self.brokers[(p.leader - 1) as usize];
                if let Role::Leader(l) = &b.role {
                    if b.alive && l.epoch == p.leader_epoch && l.served {
                        for (what, map, inv) in [
                            ("acknowledged", &self.acked, Invariant::AckedRecordLost),
                            ("consumed", &self.seen, Invariant::ConsumerRead),
                        ] {
                            for (offset, value) in map {
                                let got = b.log.get(*offset).map(|e| e.value);
                                if got != Some(*value) {
                                    let msg = format!(
                                        "leader b{} (le={}) lacks {what} value {value} at offset {offset}: has {got:?} (leo {})",
                                        b.id,
                                        l.epoch,
                                        b.log.leo()
                                    );
                                    return Some((inv, msg));
                                }
                            }
                        }
                    }
                }
            }
        }
        // 2: live replicas agree below the smaller HWM.
        let n = self.brokers.len();
        for x in 0..n {
            let a = &self.brokers[x];
            if !a.alive {
                continue;
            }
            if a.hwm > a.log.leo() {
                let msg = format!("b{} HWM {} beyond its LEO {}", a.id, a.hwm, a.log.leo());
                return Some((Invariant::ReplicasDiverge, msg));
            }
            for y in x + 1..n {
                let c = &self.brokers[y];
                if !c.alive {
                    continue;
                }
                let m = a.hwm.min(c.hwm).max(0) as usize;
                let (ea, ec) = (&a.log.entries()[..m], &c.log.entries()[..m]);
                if ea != ec {
                    let at = ea.iter().zip(ec).position(|(p, q)| p != q).unwrap_or(0);
                    let msg = format!(
                        "b{} and b{} differ at offset {at} below HWMs {} / {}: {:?} vs {:?}",
                        a.id, c.id, a.hwm, c.hwm, ea[at], ec[at]
                    );
                    return Some((Invariant::ReplicasDiverge, msg));
                }
            }
        }
        None
    }
}

trait InflightExt {
    fn is_none_or_timeout(&self, now: i64, timeout: i64) -> bool;
}

impl InflightExt for Option<(u64, i64)> {
    fn is_none_or_timeout(&self, now: i64, timeout: i64) -> bool {
        match self {
            None => true,
            Some((_, sent)) => now - sent >= timeout,
        }
    }
}
