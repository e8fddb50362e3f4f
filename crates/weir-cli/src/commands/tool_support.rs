//! What the client tools (topics, console producer/consumer, perf tests)
//! share: a tokio runtime, `key=value` parsing as Kafka's scripts do it, and
//! client settings from `--bootstrap-server`.

use anyhow::{bail, Context};
use weir_client::ClientConfig;

/// A runtime for one tool run. Two workers: the tool's own loop runs on the
/// calling thread (`block_on`), the client's tasks on the workers.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Split `key=value` at the first `=`, as Kafka's
/// `CommandLineUtils.parseKeyValueArgs` does (values may contain `=`).
pub fn parse_key_value(arg: &str) -> anyhow::Result<(String, String)> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => bail!("Invalid property: {arg} (expected key=value)"),
    }
}

/// Every `key=value` of a repeated flag, in order.
pub fn parse_key_values(args: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    args.iter().map(|a| parse_key_value(a)).collect()
}

/// Client settings for `bootstrap` with `client.id` set.
pub fn client_config(bootstrap: &str, client_id: &str) -> anyhow::Result<ClientConfig> {
    let mut config = ClientConfig::new(bootstrap);
    if config.bootstrap_servers.is_empty() {
        bail!("--bootstrap-server must be specified");
    }
    config.connection.client_id = client_id.to_owned();
    Ok(config)
}

/// Kafka's boolean property reading: `true` in any case, anything else false.
pub fn is_true(value: &str) -> bool {
    value.trim().eq_ignore_ascii_case("true")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_split_at_the_first_equals() {
        assert_eq!(
            parse_key_value("a=b=c").unwrap(),
            ("a".into(), "b=c".into())
        );
        assert_eq!(
            parse_key_value("key.separator=").unwrap(),
            ("key.separator".into(), "".into())
        );
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=x").is_err());
        assert!(is_true(" TRUE ") && !is_true("yes"));
    }
}
