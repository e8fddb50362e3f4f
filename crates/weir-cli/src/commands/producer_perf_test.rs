//! `weir producer-perf-test`: produce N records as fast as allowed and
//! print Kafka's ProducerPerformance lines (kafka-producer-perf-test.sh).
//! Latency is send-to-acknowledgement per record, in an HDR histogram.

use super::tool_support::{client_config, parse_key_value, runtime};
use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use std::io::Write;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use weir_client::{Client, DeliveryFuture, Producer, ProducerConfig, ProducerRecord};

/// Kafka prints a progress line every 5 seconds.
const REPORTING_INTERVAL_MS: u64 = 5000;

/// This tool is used to verify the producer performance.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("payload").required(true).args(["record_size", "payload_monotonic"])))]
pub struct Args {
    /// Produce messages to this topic.
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,
    /// Number of messages to produce.
    #[arg(long = "num-records", value_name = "NUM-RECORDS")]
    pub num_records: u64,
    /// Message size in bytes.
    #[arg(long = "record-size", value_name = "RECORD-SIZE")]
    pub record_size: Option<usize>,
    /// Payload is a monotonically increasing integer.
    #[arg(long = "payload-monotonic")]
    pub payload_monotonic: bool,
    /// Throttle to approximately THROUGHPUT messages/sec; -1 disables throttling.
    #[arg(long, value_name = "THROUGHPUT", allow_negative_numbers = true)]
    pub throughput: f64,
    /// Producer configs such as bootstrap.servers=H:P acks=all linger.ms=5.
    #[arg(long = "producer-props", value_name = "PROP-NAME=PROP-VALUE", num_args = 1.., required = true)]
    pub producer_props: Vec<String>,
    /// Accepted for compatibility; there are no client metrics to print yet.
    #[arg(long = "print-metrics")]
    pub print_metrics: bool,
}

/// Produce, printing progress every 5 s and the summary at the end.
pub fn run(args: &Args, out: &mut impl Write) -> anyhow::Result<()> {
    if args.num_records == 0 {
        bail!("--num-records should be greater than zero");
    }
    if args.record_size == Some(0) {
        bail!("--record-size should be greater than zero");
    }
    let (bootstrap, config) = producer_settings(&args.producer_props)?;
    runtime()?.block_on(async {
        let client = Client::connect(client_config(&bootstrap, "perf-producer-client")?).await?;
        let producer = Producer::new(client, config);
        let (tx, mut lines, collector) = spawn_collector(Stats::new(Instant::now()));
        let sent = send_all(args, &producer, &tx, &mut lines, out).await;
        drop(tx);
        producer.close().await?;
        let (stats, failed) = collector.await?;
        print_lines(&mut lines, out)?;
        sent?;
        writeln!(out, "{}", stats.total_line(Instant::now()))?;
        match failed {
            Some(e) => Err(e.context("records were not acknowledged")),
            None => Ok(()),
        }
    })
}

/// `bootstrap.servers` and the producer config from `--producer-props`.
fn producer_settings(props: &[String]) -> anyhow::Result<(String, ProducerConfig)> {
    let mut bootstrap = None;
    let mut config = ProducerConfig::default();
    for prop in props {
        let (k, v) = parse_key_value(prop)?;
        match k.as_str() {
            "bootstrap.servers" => bootstrap = Some(v),
            "client.id" => {}
            _ => config.set(&k, &v)?,
        }
    }
    let bootstrap = bootstrap.context("bootstrap.servers must be given in --producer-props")?;
    Ok((bootstrap, config))
}

/// Send every record, throttled, handing each delivery to the collector and
/// printing the progress lines it produces meanwhile.
async fn send_all(
    args: &Args,
    producer: &Producer,
    deliveries: &mpsc::UnboundedSender<Pending>,
    lines: &mut mpsc::UnboundedReceiver<String>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut payload = Payload::new(args.record_size);
    let throttle = Throttle::new(args.throughput);
    let start = Instant::now();
    for i in 0..args.num_records {
        let value = payload.next(i);
        let bytes = value.len();
        let record = ProducerRecord::new(args.topic.clone(), value);
        let sent_at = Instant::now();
        let delivery = producer.send(record).await?;
        let _ = deliveries.send(Pending {
            sent_at,
            bytes,
            delivery,
        });
        if let Some(wait) = throttle.wait_before(i + 1, start.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        print_lines(lines, out)?;
    }
    Ok(())
}

fn print_lines(
    lines: &mut mpsc::UnboundedReceiver<String>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut any = false;
    while let Ok(line) = lines.try_recv() {
        writeln!(out, "{line}")?;
        any = true;
    }
    if any {
        out.flush()?;
    }
    Ok(())
}

/// A record on its way.
struct Pending {
    sent_at: Instant,
    bytes: usize,
    delivery: DeliveryFuture,
}

type Collector = tokio::task::JoinHandle<(Stats, Option<anyhow::Error>)>;

/// Await deliveries in send order, recording latencies; progress lines go
/// back to the sending loop, which owns stdout.
fn spawn_collector(
    mut stats: Stats,
) -> (
    mpsc::UnboundedSender<Pending>,
    mpsc::UnboundedReceiver<String>,
    Collector,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Pending>();
    let (line_tx, line_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut failed = None;
        while let Some(p) = rx.recv().await {
            match p.delivery.await {
                Ok(_) => {
                    let now = Instant::now();
                    if let Some(line) = stats.record(now.duration_since(p.sent_at), p.bytes, now) {
                        let _ = line_tx.send(line);
                    }
                }
                Err(e) => {
                    eprintln!("Error when sending message: {e}");
                    failed.get_or_insert_with(|| anyhow::Error::from(e));
                }
            }
        }
        (stats, failed)
    });
    (tx, line_rx, task)
}

/// Record payloads: Kafka fills a fixed buffer with random upper-case
/// letters (SplittableRandom seeded 0) per record; we do the same with a
/// small xorshift, so payloads are not trivially compressible.
struct Payload {
    size: Option<usize>,
    state: u64,
}

impl Payload {
    fn new(size: Option<usize>) -> Payload {
        Payload {
            size,
            state: 0x9e37_79b9_7f4a_7c15,
        }
    }

    fn next(&mut self, i: u64) -> Vec<u8> {
        let Some(size) = self.size else {
            return i.to_string().into_bytes();
        };
        (0..size)
            .map(|_| {
                self.state ^= self.state << 13;
                self.state ^= self.state >> 7;
                self.state ^= self.state << 17;
                b'A' + (self.state % 26) as u8
            })
            .collect()
    }
}

/// Kafka's ThroughputThrottler, simplified: after `sent` records, be no
/// further ahead than `sent / throughput` seconds from the start.
#[derive(Debug, Clone, Copy)]
struct Throttle {
    per_sec: Option<f64>,
}

impl Throttle {
    fn new(throughput: f64) -> Throttle {
        Throttle {
            per_sec: (throughput > 0.0).then_some(throughput),
        }
    }

    fn wait_before(self, sent: u64, elapsed: Duration) -> Option<Duration> {
        let target = Duration::from_secs_f64(sent as f64 / self.per_sec?);
        target.checked_sub(elapsed).filter(|d| !d.is_zero())
    }
}

/// Counts and latencies of a run, overall and for the current 5 s window
/// (Kafka's `ProducerPerformance.Stats`).
#[derive(Debug)]
pub struct Stats {
    start: Instant,
    count: u64,
    bytes: u64,
    total_latency_ms: u64,
    max_latency_ms: u64,
    histogram: Histogram<u64>,
    window: Window,
}

#[derive(Debug)]
struct Window {
    start: Instant,
    count: u64,
    bytes: u64,
    total_latency_ms: u64,
    max_latency_ms: u64,
}

impl Window {
    fn new(start: Instant) -> Window {
        Window {
            start,
            count: 0,
            bytes: 0,
            total_latency_ms: 0,
            max_latency_ms: 0,
        }
    }
}

impl Stats {
    /// Empty stats starting at `start`.
    pub fn new(start: Instant) -> Stats {
        Stats {
            start,
            count: 0,
            bytes: 0,
            total_latency_ms: 0,
            max_latency_ms: 0,
            // Latencies from 1 ms to an hour, 3 significant digits.
            histogram: Histogram::new_with_bounds(1, 3_600_000, 3)
                .expect("constant bounds are valid"),
            window: Window::new(start),
        }
    }

    /// Record one acknowledged record; returns the progress line when a
    /// window of 5 s has passed.
    pub fn record(&mut self, latency: Duration, bytes: usize, now: Instant) -> Option<String> {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.count += 1;
        self.bytes += bytes as u64;
        self.total_latency_ms += ms;
        self.max_latency_ms = self.max_latency_ms.max(ms);
        self.histogram.saturating_record(ms.max(1));
        let w = &mut self.window;
        w.count += 1;
        w.bytes += bytes as u64;
        w.total_latency_ms += ms;
        w.max_latency_ms = w.max_latency_ms.max(ms);
        if now.duration_since(w.start) < Duration::from_millis(REPORTING_INTERVAL_MS) {
            return None;
        }
        let line = self.window_line(now);
        self.window = Window::new(now);
        Some(line)
    }

    /// `N records sent, X records/sec (Y MB/sec), Z ms avg latency, W ms max latency.`
    pub fn window_line(&self, now: Instant) -> String {
        let w = &self.window;
        let elapsed_ms = millis(now.duration_since(w.start));
        format!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
            w.count,
            1000.0 * w.count as f64 / elapsed_ms,
            1000.0 * w.bytes as f64 / elapsed_ms / (1024.0 * 1024.0),
            w.total_latency_ms as f64 / w.count.max(1) as f64,
            w.max_latency_ms as f64
        )
    }

    /// Kafka's final line, with 50th/95th/99th/99.9th percentiles.
    pub fn total_line(&self, now: Instant) -> String {
        let elapsed_ms = millis(now.duration_since(self.start));
        let p = |q: f64| {
            if self.count == 0 {
                0
            } else {
                self.histogram.value_at_quantile(q)
            }
        };
        format!(
            "{} records sent, {:.6} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.count,
            1000.0 * self.count as f64 / elapsed_ms,
            1000.0 * self.bytes as f64 / elapsed_ms / (1024.0 * 1024.0),
            self.total_latency_ms as f64 / self.count.max(1) as f64,
            self.max_latency_ms as f64,
            p(0.5),
            p(0.95),
            p(0.99),
            p(0.999)
        )
    }
}

/// Elapsed milliseconds, at least 1 so rates stay finite.
fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_line_has_kafkas_shape() {
        let start = Instant::now();
        let mut s = Stats::new(start);
        for i in 1..=1000u64 {
            assert!(s
                .record(
                    Duration::from_millis(i % 10 + 1),
                    100,
                    start + Duration::from_millis(i)
                )
                .is_none());
        }
        let line = s.total_line(start + Duration::from_secs(2));
        assert_eq!(
            line,
            "1000 records sent, 500.000000 records/sec (0.05 MB/sec), 5.50 ms avg latency, 10.00 ms max latency, 5 ms 50th, 10 ms 95th, 10 ms 99th, 10 ms 99.9th."
        );
    }

    #[test]
    fn window_line_every_five_seconds() {
        let start = Instant::now();
        let mut s = Stats::new(start);
        assert!(s
            .record(
                Duration::from_millis(3),
                1024,
                start + Duration::from_secs(1)
            )
            .is_none());
        let line = s
            .record(
                Duration::from_millis(7),
                1024,
                start + Duration::from_secs(5),
            )
            .unwrap();
        assert_eq!(line, "2 records sent, 0.4 records/sec (0.00 MB/sec), 5.0 ms avg latency, 7.0 ms max latency.");
        // The next window starts empty.
        assert!(s
            .record(Duration::from_millis(1), 1, start + Duration::from_secs(6))
            .is_none());
    }

    #[test]
    fn throttle_and_payloads() {
        let t = Throttle::new(100.0);
        assert_eq!(
            t.wait_before(10, Duration::from_millis(40)),
            Some(Duration::from_millis(60))
        );
        assert_eq!(t.wait_before(10, Duration::from_millis(200)), None);
        assert_eq!(Throttle::new(-1.0).wait_before(10, Duration::ZERO), None);
        let mut p = Payload::new(Some(50));
        let a = p.next(0);
        assert_eq!(a.len(), 50);
        assert!(a.iter().all(u8::is_ascii_uppercase));
        assert_ne!(a, p.next(1));
        assert_eq!(Payload::new(None).next(42), b"42");
    }

    #[test]
    fn producer_props_need_bootstrap_servers() {
        let (b, c) = producer_settings(&[
            "bootstrap.servers=h:1".into(),
            "acks=1".into(),
            "linger.ms=0".into(),
        ])
        .unwrap();
        assert_eq!(b, "h:1");
        assert_eq!(c.linger_ms, 0);
        assert!(producer_settings(&["acks=1".into()]).is_err());
        assert!(producer_settings(&["bootstrap.servers=h:1".into(), "acks=7".into()]).is_err());
    }
}
