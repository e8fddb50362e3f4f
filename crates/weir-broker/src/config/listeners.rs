//! The network-address values of `server.properties`: listeners
//! (`NAME://host:port`), the listener → security protocol map, quorum
//! voters (`id@host:port`) and bootstrap servers (`host:port`).
//!
//! Parsers return a reason string; the caller wraps it in a
//! [`super::ConfigError`] naming the key and value.

use std::collections::BTreeMap;
use std::fmt;

/// A named endpoint from `listeners` or `advertised.listeners`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Listener name, upper-cased as Kafka's `ListenerName.normalised`.
    pub name: String,
    /// Host or IP; empty means every interface (and, when advertised, the
    /// server picks a name for itself, as Kafka uses the canonical host).
    pub host: String,
    /// TCP port; 0 asks the OS for a free one (useful in tests).
    pub port: u16,
}

impl Listener {
    /// The address to bind: `0.0.0.0:port` for an empty host, IPv6 hosts
    /// in brackets.
    pub fn bind_address(&self) -> String {
        match self.host.as_str() {
            "" => format!("0.0.0.0:{}", self.port),
            h => join_host_port(h, self.port),
        }
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}",
            self.name,
            join_host_port(&self.host, self.port)
        )
    }
}

/// A `host:port` pair (`controller.quorum.bootstrap.servers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// Host name or IP (not empty).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&join_host_port(&self.host, self.port))
    }
}

/// One member of `controller.quorum.voters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumVoter {
    /// The voter's `node.id`.
    pub id: i32,
    /// Its controller listener.
    pub address: HostPort,
}

impl fmt::Display for QuorumVoter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.id, self.address)
    }
}

/// Kafka's `SecurityProtocol`. Weir speaks only [`SecurityProtocol::Plaintext`];
/// the others parse so that a stock map (which names all four) is accepted,
/// and using one on a listener is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// `PLAINTEXT`.
    Plaintext,
    /// `SSL`.
    Ssl,
    /// `SASL_PLAINTEXT`.
    SaslPlaintext,
    /// `SASL_SSL`.
    SaslSsl,
}

impl SecurityProtocol {
    /// Kafka's name of the protocol.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    fn parse(s: &str) -> Option<SecurityProtocol> {
        const ALL: [SecurityProtocol; 4] = [
            SecurityProtocol::Plaintext,
            SecurityProtocol::Ssl,
            SecurityProtocol::SaslPlaintext,
            SecurityProtocol::SaslSsl,
        ];
        ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(s))
    }
}

/// Kafka's default `listener.security.protocol.map`: every protocol name
/// maps to itself.
pub fn default_protocol_map() -> BTreeMap<String, SecurityProtocol> {
    ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
        .into_iter()
        .filter_map(|n| Some((n.to_string(), SecurityProtocol::parse(n)?)))
        .collect()
}

/// `host:port` with IPv6 hosts bracketed.
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Split a comma-separated list, trimming items and dropping empty ones
/// (Kafka's `ConfigDef` `LIST` type).
pub fn split_list(value: &str) -> Vec<&str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Normalise a listener name (upper case), checking its characters.
pub fn listener_name(name: &str) -> Result<String, String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if name.is_empty() || !name.chars().all(ok) {
        return Err(format!(
            "listener name {name:?} must be letters, digits, '_', '-' or '.'"
        ));
    }
    Ok(name.to_ascii_uppercase())
}

/// `host:port`, `[ipv6]:port`, or `:port` (empty host); the characters
/// Kafka's listener regex allows in a host.
fn parse_host_port(s: &str) -> Result<(String, u16), String> {
    let (host, port) = match s.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest.split_once(']').ok_or("unclosed '[' in host")?;
            let port = after
                .strip_prefix(':')
                .ok_or("expected ':port' after ']'")?;
            (host, port)
        }
        None => s.rsplit_once(':').ok_or("expected host:port")?,
    };
    let host_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '%' | '.' | '_' | ':');
    if !host.chars().all(host_ok) {
        return Err(format!("invalid host {host:?}"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("port {port:?} is not in 0..=65535"))?;
    Ok((host.to_string(), port))
}

/// One `NAME://host:port`.
pub fn parse_listener(s: &str) -> Result<Listener, String> {
    let (name, address) = s
        .split_once("://")
        .ok_or_else(|| format!("{s:?} is not of the form NAME://host:port"))?;
    let name = listener_name(name)?;
    let (host, port) = parse_host_port(address)?;
    Ok(Listener { name, host, port })
}

/// A comma-separated listener list with unique names (Kafka:
/// "Each listener must have a different name") and unique non-zero ports.
pub fn parse_listeners(value: &str) -> Result<Vec<Listener>, String> {
    let listeners = split_list(value)
        .into_iter()
        .map(parse_listener)
        .collect::<Result<Vec<_>, _>>()?;
    for (i, l) in listeners.iter().enumerate() {
        let earlier = &listeners[..i];
        if earlier.iter().any(|e| e.name == l.name) {
            return Err(format!("listener name {} appears twice", l.name));
        }
        if l.port != 0 && earlier.iter().any(|e| e.port == l.port && e.host == l.host) {
            return Err(format!("port {} is used by two listeners", l.port));
        }
    }
    Ok(listeners)
}

/// `NAME:PROTOCOL,...`; a later duplicate wins, as in Kafka's `parseCsvMap`.
pub fn parse_protocol_map(value: &str) -> Result<BTreeMap<String, SecurityProtocol>, String> {
    let mut map = BTreeMap::new();
    for entry in split_list(value) {
        let (name, protocol) = entry
            .split_once(':')
            .ok_or_else(|| format!("{entry:?} is not of the form NAME:PROTOCOL"))?;
        let protocol = SecurityProtocol::parse(protocol.trim())
            .ok_or_else(|| format!("unknown security protocol {:?}", protocol.trim()))?;
        map.insert(listener_name(name.trim())?, protocol);
    }
    Ok(map)
}

/// A non-empty `host:port`.
pub fn parse_server(s: &str) -> Result<HostPort, String> {
    let (host, port) = parse_host_port(s)?;
    if host.is_empty() {
        return Err(format!("{s:?} has no host"));
    }
    Ok(HostPort { host, port })
}

/// `id@host:port,...` with unique, non-negative ids (Kafka's
/// `QuorumConfig.parseVoterConnections`).
pub fn parse_voters(value: &str) -> Result<Vec<QuorumVoter>, String> {
    let mut voters: Vec<QuorumVoter> = Vec::new();
    for entry in split_list(value) {
        let (id, address) = entry
            .split_once('@')
            .ok_or_else(|| format!("{entry:?} is not of the form id@host:port"))?;
        let id: i32 = id
            .trim()
            .parse()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| format!("voter id {id:?} is not a non-negative integer"))?;
        if voters.iter().any(|v| v.id == id) {
            return Err(format!("voter id {id} appears twice"));
        }
        let address = parse_server(address.trim())?;
        voters.push(QuorumVoter { id, address });
    }
    Ok(voters)
}

/// `host:port,...`.
pub fn parse_servers(value: &str) -> Result<Vec<HostPort>, String> {
    split_list(value).into_iter().map(parse_server).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(name: &str, host: &str, port: u16) -> Listener {
        Listener {
            name: name.into(),
            host: host.into(),
            port,
        }
    }

    #[test]
    fn listeners_of_every_host_shape() {
        let got = parse_listeners("PLAINTEXT://:9092, controller://127.0.0.1:9093,V6://[::1]:9094")
            .unwrap();
        assert_eq!(
            got,
            vec![
                l("PLAINTEXT", "", 9092),
                l("CONTROLLER", "127.0.0.1", 9093),
                l("V6", "::1", 9094)
            ]
        );
        assert_eq!(got[0].bind_address(), "0.0.0.0:9092");
        assert_eq!(got[2].bind_address(), "[::1]:9094");
        assert_eq!(got[2].to_string(), "V6://[::1]:9094");
    }

    #[test]
    fn bad_listeners() {
        for bad in [
            "PLAINTEXT:9092",
            "://h:1",
            "P://h",
            "P://h:65536",
            "P://h:-1",
            "P://h/x:1",
            "P://[::1:1",
            "A://:1,A://:2",
            "A://:1,B://:1",
        ] {
            assert!(parse_listeners(bad).is_err(), "{bad}");
        }
        assert!(parse_listeners("A://:0,B://:0").is_ok());
    }

    #[test]
    fn protocol_map() {
        let map = parse_protocol_map("CONTROLLER:PLAINTEXT, ssl:SSL").unwrap();
        assert_eq!(map["CONTROLLER"], SecurityProtocol::Plaintext);
        assert_eq!(map["SSL"], SecurityProtocol::Ssl);
        assert!(parse_protocol_map("A:TLS").is_err());
        assert!(parse_protocol_map("A").is_err());
        assert_eq!(default_protocol_map().len(), 4);
    }

    #[test]
    fn voters_and_servers() {
        let v = parse_voters("1@127.0.0.1:9093, 2@[::1]:9094").unwrap();
        assert_eq!(v[1].to_string(), "2@[::1]:9094");
        for bad in ["1@:9093", "x@h:1", "-1@h:1", "1@h:1,1@h:2", "h:1"] {
            assert!(parse_voters(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_servers("a:1,b:2").unwrap()[1].to_string(), "b:2");
        assert!(parse_servers(":1").is_err());
    }
}
