//! Address flags: `HOST:PORT` with a host name or an IP literal, resolved once
//! at start (as wrk, curl and nc do). A name that resolves to several
//! addresses gives the first that works: for a listener the first that binds,
//! for a client the first that accepts a connection.

use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How long a client waits for each candidate address to accept.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Resolve `HOST:PORT` (`localhost:7000`, `127.0.0.1:0`, `[::1]:7000`).
pub fn resolve(s: &str) -> Result<Vec<SocketAddr>, String> {
    let t = s.trim();
    if let Ok(a) = t.parse::<SocketAddr>() {
        return Ok(vec![a]);
    }
    let Some((host, port)) = t.rsplit_once(':') else {
        return Err(format!(
            "{s:?} is not HOST:PORT (examples: 127.0.0.1:7000, localhost:7000, [::1]:7000)"
        ));
    };
    if host.is_empty() {
        return Err(format!("{s:?} has no host (example: 127.0.0.1:7000)"));
    }
    if port.parse::<u16>().is_err() {
        return Err(format!(
            "port {port:?} in {s:?} is not a number from 0 to 65535"
        ));
    }
    let addrs: Vec<SocketAddr> = t
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve host {host:?}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("host {host:?} resolves to no address"));
    }
    Ok(addrs)
}

/// Parse a listening address: the first resolved address that can be bound.
pub fn parse_listen_addr(s: &str) -> Result<SocketAddr, String> {
    let addrs = resolve(s)?;
    if addrs.len() == 1 {
        // One candidate: its bind error is reported where the server binds.
        return Ok(addrs[0]);
    }
    let mut tried = Vec::new();
    for a in &addrs {
        match TcpListener::bind(a) {
            Ok(_) => return Ok(*a),
            Err(e) => tried.push(format!("{a}: {e}")),
        }
    }
    Err(format!("cannot listen on {s:?}: {}", tried.join("; ")))
}

/// Parse a server's address for a client: the first resolved address that
/// accepts a connection, else (none answers) the first, whose failure the
/// run then reports.
pub fn parse_connect_addr(s: &str) -> Result<SocketAddr, String> {
    let addrs = resolve(s)?;
    if addrs.len() == 1 {
        return Ok(addrs[0]);
    }
    Ok(addrs
        .iter()
        .copied()
        .find(|a| TcpStream::connect_timeout(a, PROBE_TIMEOUT).is_ok())
        .unwrap_or(addrs[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_names() {
        assert_eq!(
            resolve("127.0.0.1:7000").unwrap(),
            vec!["127.0.0.1:7000".parse().unwrap()]
        );
        assert!(resolve("localhost:7000")
            .unwrap()
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 7000));
        assert!(resolve("localhost").unwrap_err().contains("HOST:PORT"));
        assert!(resolve("localhost:99999").unwrap_err().contains("port"));
        assert!(resolve(":7000").unwrap_err().contains("no host"));
        assert!(resolve("no-such-host.invalid:7000")
            .unwrap_err()
            .contains("no-such-host.invalid"));
    }
}
