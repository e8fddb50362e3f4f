//! `weir consumer-perf-test`: consume N messages as fast as possible and
//! print Kafka's ConsumerPerformance header and summary line
//! (kafka-consumer-perf-test.sh). Without groups yet it assigns every
//! partition of the topic, so `rebalance.time.ms` is always 0.

use super::tool_support::{client_config, runtime};
use anyhow::bail;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use weir_client::consumer::AutoOffsetReset;
use weir_client::{Client, Consumer, ConsumerConfig, OffsetSpec};

/// Kafka's default `--date-format`, the only one supported.
const DATE_FORMAT: &str = "yyyy-MM-dd HH:mm:ss:SSS";

/// This tool is used to verify the consumer performance.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// REQUIRED: The server(s) to connect to.
    #[arg(long = "bootstrap-server", value_name = "server to connect to")]
    pub bootstrap_server: String,
    /// The topic to consume from.
    #[arg(long, value_name = "topic")]
    pub topic: String,
    /// REQUIRED: The number of messages to consume.
    #[arg(long, value_name = "count")]
    pub messages: u64,
    /// Accepted for compatibility; consumer groups are not supported yet.
    #[arg(long, value_name = "gid")]
    pub group: Option<String>,
    /// The amount of data to fetch in a single request (per partition).
    #[arg(long = "fetch-size", value_name = "size", default_value_t = 1024 * 1024)]
    pub fetch_size: i32,
    /// Start from the latest message rather than the earliest.
    #[arg(long = "from-latest")]
    pub from_latest: bool,
    /// The maximum allowed time in milliseconds between returned records.
    #[arg(long, value_name = "milliseconds", default_value_t = 10_000)]
    pub timeout: u64,
    /// Interval in milliseconds at which to print progress info.
    #[arg(
        long = "reporting-interval",
        value_name = "interval_ms",
        default_value_t = 5_000
    )]
    pub reporting_interval: u64,
    /// Print stats for each reporting interval.
    #[arg(long = "show-detailed-stats")]
    pub show_detailed_stats: bool,
    /// Skip printing the header for the stats.
    #[arg(long = "hide-header")]
    pub hide_header: bool,
    /// The date format (only Kafka's default is supported).
    #[arg(long = "date-format", value_name = "date format", default_value = DATE_FORMAT)]
    pub date_format: String,
}

/// Consume and print the summary.
pub fn run(args: &Args, out: &mut impl Write) -> anyhow::Result<()> {
    if args.date_format != DATE_FORMAT {
        bail!("only the default --date-format {DATE_FORMAT} is supported");
    }
    if args.reporting_interval == 0 {
        bail!("Reporting interval must be greater than 0.");
    }
    if !args.hide_header {
        writeln!(out, "{}", header(args.show_detailed_stats))?;
    }
    runtime()?.block_on(async {
        let client = Client::connect(client_config(&args.bootstrap_server, "perf-consumer-client")?).await?;
        let mut consumer = Consumer::new(client, consumer_config(args));
        consumer.assign_topic(&args.topic).await?;
        let partitions = consumer.assignment().to_vec();
        let start = if args.from_latest { OffsetSpec::Latest } else { OffsetSpec::Earliest };
        consumer.seek(&partitions, start).await?;
        let start_ms = now_ms();
        let totals = consume(&mut consumer, args, out).await?;
        let end_ms = now_ms();
        if totals.messages < args.messages {
            writeln!(
                out,
                "WARNING: Exiting before consuming the expected number of messages: timeout ({} ms) exceeded. You can use the --timeout option to increase the timeout.",
                args.timeout
            )?;
        }
        if !args.show_detailed_stats {
            writeln!(out, "{}", summary_line(start_ms, end_ms, totals))?;
        }
        Ok(())
    })
}

fn consumer_config(args: &Args) -> ConsumerConfig {
    ConsumerConfig {
        max_partition_fetch_bytes: args.fetch_size,
        auto_offset_reset: if args.from_latest {
            AutoOffsetReset::Latest
        } else {
            AutoOffsetReset::Earliest
        },
        ..ConsumerConfig::default()
    }
}

/// Messages and key+value bytes read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Messages.
    pub messages: u64,
    /// Bytes of keys and values.
    pub bytes: u64,
}

/// Poll until `--messages` are read or none arrive for `--timeout` ms.
async fn consume(
    consumer: &mut Consumer,
    args: &Args,
    out: &mut impl Write,
) -> anyhow::Result<Totals> {
    let mut totals = Totals::default();
    let mut last = (totals, now_ms());
    let mut last_consumed = std::time::Instant::now();
    while totals.messages < args.messages
        && last_consumed.elapsed() <= Duration::from_millis(args.timeout)
    {
        let records = consumer.poll(Duration::from_millis(100)).await?;
        if !records.is_empty() {
            last_consumed = std::time::Instant::now();
        }
        for r in records
            .iter()
            .take(usize::try_from(args.messages - totals.messages).unwrap_or(usize::MAX))
        {
            totals.messages += 1;
            totals.bytes += (r.key.as_ref().map_or(0, |k| k.len())
                + r.value.as_ref().map_or(0, |v| v.len())) as u64;
        }
        let now = now_ms();
        if args.show_detailed_stats && now - last.1 >= args.reporting_interval as i64 {
            writeln!(out, "{}", progress_line(last, (totals, now)))?;
            out.flush()?;
            last = (totals, now);
        }
    }
    Ok(totals)
}

/// The header line, for the summary or the detailed layout.
pub fn header(detailed: bool) -> String {
    let extra = ", rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec";
    if detailed {
        format!(
            "time, threadId, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec{extra}"
        )
    } else {
        format!("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec{extra}")
    }
}

/// `start, end, MB, MB/sec, nMsg, nMsg/sec, rebalance ms, fetch ms, fetch MB/sec, fetch nMsg/sec`
pub fn summary_line(start_ms: i64, end_ms: i64, t: Totals) -> String {
    let elapsed_ms = (end_ms - start_ms).max(1);
    let elapsed_sec = elapsed_ms as f64 / 1000.0;
    let mb = t.bytes as f64 / (1024.0 * 1024.0);
    let join_ms = 0;
    let fetch_ms = elapsed_ms - join_ms;
    format!(
        "{}, {}, {:.4}, {:.4}, {}, {:.4}, {}, {}, {:.4}, {:.4}",
        format_ms(start_ms),
        format_ms(end_ms),
        mb,
        mb / elapsed_sec,
        t.messages,
        t.messages as f64 / elapsed_sec,
        join_ms,
        fetch_ms,
        mb / (fetch_ms as f64 / 1000.0),
        t.messages as f64 / (fetch_ms as f64 / 1000.0)
    )
}

/// A `--show-detailed-stats` line for the interval between two samples.
fn progress_line(from: (Totals, i64), to: (Totals, i64)) -> String {
    let elapsed_ms = (to.1 - from.1).max(1) as f64;
    let mb = to.0.bytes as f64 / (1024.0 * 1024.0);
    let interval_mb = (to.0.bytes - from.0.bytes) as f64 / (1024.0 * 1024.0);
    let interval_msgs = (to.0.messages - from.0.messages) as f64;
    format!(
        "{}, 0, {:.4}, {:.4}, {}, {:.4}, 0, {}, {:.4}, {:.4}",
        format_ms(to.1),
        mb,
        1000.0 * interval_mb / elapsed_ms,
        to.0.messages,
        1000.0 * interval_msgs / elapsed_ms,
        elapsed_ms as i64,
        1000.0 * interval_mb / elapsed_ms,
        1000.0 * interval_msgs / elapsed_ms
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `yyyy-MM-dd HH:mm:ss:SSS` in UTC (Kafka uses the local zone; ours is UTC).
pub fn format_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}:{:03}",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_format_like_simple_date_format() {
        assert_eq!(format_ms(0), "1970-01-01 00:00:00:000");
        assert_eq!(format_ms(1_700_000_000_123), "2023-11-14 22:13:20:123");
        assert_eq!(format_ms(951_782_400_000), "2000-02-29 00:00:00:000");
    }

    #[test]
    fn header_and_summary_match_consumer_performance() {
        assert_eq!(
            header(false),
            "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
        );
        let t = Totals {
            messages: 1000,
            bytes: 1_048_576,
        };
        assert_eq!(
            summary_line(0, 2000, t),
            "1970-01-01 00:00:00:000, 1970-01-01 00:00:02:000, 1.0000, 0.5000, 1000, 500.0000, 0, 2000, 0.5000, 500.0000"
        );
    }
}
