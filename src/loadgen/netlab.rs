//! `loadgen netlab`: hosts made of network namespaces on this machine, so a
//! load crosses a network device (a veth pair and a bridge, each host with
//! its own TCP stack, routes and device queues) instead of loopback.
//!
//! A lab named `P` is a hub namespace `P-hub` holding the bridge, a server
//! host `P-server` at 198.18.0.1 and load hosts `P-load1`… at 198.18.0.11…
//! (the benchmarking range of RFC 2544, 198.18.0.0/15), each joined to the
//! bridge by a veth pair whose host end is its `eth0`. Nothing is changed
//! in the machine's own namespace. The lab is removed — every namespace,
//! and with them their devices — when the command given to run in it ends,
//! when setting it up fails half-way, and on Ctrl-C or SIGTERM (a `kill -9`
//! leaves it: `loadgen netlab --name P --remove` removes what is left).
//! Needs root (CAP_NET_ADMIN) and `ip` from iproute2.

use std::net::Ipv4Addr;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;

/// Settings of `loadgen netlab`.
#[derive(Debug, Clone, Args)]
pub struct NetlabArgs {
    /// The lab's name: its namespaces are NAME-hub, NAME-server, NAME-load1… (at most 10
    /// characters: letters, digits, `-`). Refused if any of them exists.
    #[arg(long, default_value = "muxbench", value_parser = parse_lab_name)]
    pub name: String,
    /// Load hosts (1 to 16).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=16))]
    pub load_hosts: u8,
    /// Remove what a lab of this name left behind (after a `kill -9`), then exit.
    #[arg(long)]
    pub remove: bool,
    /// Without a command: keep the lab up this long (or until Ctrl-C), then remove it.
    #[arg(long, default_value = "60m", value_parser = crate::units::parse_duration)]
    pub hold: Duration,
    /// The command to run while the lab is up (after `--`), with its hosts in the
    /// environment: NETLAB_SERVER_NS, NETLAB_SERVER_ADDR, NETLAB_LOAD_NS_i and
    /// NETLAB_LOAD_ADDR_i (i = 1…), NETLAB_LOAD_HOSTS. Run a program on a host with
    /// `ip netns exec $NETLAB_SERVER_NS PROGRAM`. The lab's exit status is the command's.
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// `--name`: short enough for interface and namespace names, nothing a shell
/// or `ip` would read otherwise.
fn parse_lab_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 10
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.starts_with('-');
    if ok {
        Ok(s.to_string())
    } else {
        Err("1 to 10 letters, digits or `-` (not first)".into())
    }
}

/// The server host's address.
pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

/// Load host `i`'s (1-based) address.
pub fn load_addr(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 0, 10 + i)
}

/// A lab that is up; removed when dropped.
pub struct Lab {
    name: String,
    /// Namespaces made so far (removed in reverse order).
    made: Vec<String>,
}

impl Lab {
    /// The namespace of the hub (bridge), the server, or load host `i`.
    fn hub(&self) -> String {
        format!("{}-hub", self.name)
    }
    /// The server host's namespace.
    pub fn server_ns(&self) -> String {
        format!("{}-server", self.name)
    }
    /// Load host `i`'s namespace (1-based).
    pub fn load_ns(&self, i: u8) -> String {
        format!("{}-load{i}", self.name)
    }

    /// Make the lab: refused if not root, without `ip`, or if a namespace of
    /// that name exists; anything made before a step fails is removed.
    pub fn up(name: &str, load_hosts: u8) -> Result<Lab> {
        if !rustix::process::geteuid().is_root() {
            bail!("network namespaces need root (CAP_NET_ADMIN): run loadgen netlab as root");
        }
        let existing = namespaces().context("`ip netns list` (is iproute2 installed?)")?;
        let mut lab = Lab {
            name: name.to_string(),
            made: Vec::new(),
        };
        let mut wanted = vec![lab.hub(), lab.server_ns()];
        wanted.extend((1..=load_hosts).map(|i| lab.load_ns(i)));
        if let Some(taken) = wanted.iter().find(|n| existing.contains(n)) {
            bail!(
                "network namespace {taken} exists already: another lab named {name} is up, or \
                 one was left by a killed run (`loadgen netlab --name {name} --remove`); or give \
                 another --name"
            );
        }
        let hub = lab.hub();
        lab.add_ns(&hub)?;
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &hub, "link", "set", "br0", "up"])?;
        let server = lab.server_ns();
        lab.add_host(&server, "s", SERVER_ADDR)?;
        for i in 1..=load_hosts {
            let ns = lab.load_ns(i);
            lab.add_host(&ns, &format!("l{i}"), load_addr(i))?;
        }
        Ok(lab)
    }

    fn add_ns(&mut self, ns: &str) -> Result<()> {
        ip(&["netns", "add", ns])?;
        self.made.push(ns.to_string());
        ip(&["-n", ns, "link", "set", "lo", "up"])
    }

    /// A host: its namespace, a veth pair (`eth0` in the host, `port` on the
    /// bridge), its address in 198.18.0.0/24.
    fn add_host(&mut self, ns: &str, port: &str, addr: Ipv4Addr) -> Result<()> {
        self.add_ns(ns)?;
        let hub = self.hub();
        ip(&[
            "-n", &hub, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns,
        ])?;
        ip(&["-n", &hub, "link", "set", port, "master", "br0"])?;
        ip(&["-n", &hub, "link", "set", port, "up"])?;
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", ns, "link", "set", "eth0", "up"])
    }

    /// The environment a command in the lab gets.
    pub fn env(&self, load_hosts: u8) -> Vec<(String, String)> {
        let mut env = vec![
            ("NETLAB_SERVER_NS".into(), self.server_ns()),
            ("NETLAB_SERVER_ADDR".into(), SERVER_ADDR.to_string()),
            ("NETLAB_LOAD_HOSTS".into(), load_hosts.to_string()),
        ];
        for i in 1..=load_hosts {
            env.push((format!("NETLAB_LOAD_NS_{i}"), self.load_ns(i)));
            env.push((format!("NETLAB_LOAD_ADDR_{i}"), load_addr(i).to_string()));
        }
        env
    }

    /// Remove every namespace made (their devices go with them); the first
    /// failure, after trying them all.
    pub fn down(mut self) -> Result<()> {
        self.remove_all()
    }

    fn remove_all(&mut self) -> Result<()> {
        let mut first = None;
        while let Some(ns) = self.made.pop() {
            if let Err(e) = ip(&["netns", "del", &ns]) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Err(e) = self.remove_all() {
            eprintln!("loadgen netlab: removing the lab: {e:#}");
        }
    }
}

/// Network namespaces that exist now (`ip netns list`).
pub fn namespaces() -> Result<Vec<String>> {
    let out = Command::new("ip").args(["netns", "list"]).output()?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

/// Run `ip ARGS`; its stderr in the error if it fails.
fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running `ip` (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// `loadgen netlab`: make the lab, run the command in it (or hold it), remove it.
pub fn run(a: &NetlabArgs) -> Result<i32> {
    if a.remove {
        return remove_leftovers(&a.name).map(|()| 0);
    }
    let lab = Lab::up(&a.name, a.load_hosts)?;
    eprintln!(
        "netlab {}: server {} in {}, load hosts {}",
        a.name,
        SERVER_ADDR,
        lab.server_ns(),
        (1..=a.load_hosts)
            .map(|i| format!("{} in {}", load_addr(i), lab.load_ns(i)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let status = if a.command.is_empty() {
        hold(a.hold);
        0
    } else {
        let status = run_command(&a.command, &lab.env(a.load_hosts))?;
        // A command ended by a signal: 128 + its number, as a shell says.
        status.code().unwrap_or_else(|| {
            128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)
        })
    };
    lab.down()?;
    eprintln!("netlab {}: removed", a.name);
    Ok(status)
}

/// Wait until `hold` passes or a Ctrl-C / SIGTERM arrives.
fn hold(hold: Duration) {
    let end = Instant::now() + hold;
    while Instant::now() < end && !crate::signals::interrupted() {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Run `command` with `env`; a Ctrl-C or SIGTERM to us ends it (SIGTERM),
/// so the lab is removed after it.
fn run_command(command: &[String], env: &[(String, String)]) -> Result<ExitStatus> {
    let mut child = Command::new(&command[0])
        .args(&command[1..])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .spawn()
        .with_context(|| format!("starting {}", command[0]))?;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if crate::signals::interrupted() {
            let _ = crate::sys::kill(child.id(), libc::SIGTERM);
            return Ok(child.wait()?);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `--remove`: every namespace a lab named `name` has (after a `kill -9`).
fn remove_leftovers(name: &str) -> Result<()> {
    let prefix = format!("{name}-");
    let ours: Vec<String> = namespaces()?
        .into_iter()
        .filter(|n| {
            n.strip_prefix(&prefix).is_some_and(|rest| {
                rest == "hub"
                    || rest == "server"
                    || rest
                        .strip_prefix("load")
                        .is_some_and(|k| k.parse::<u8>().is_ok())
            })
        })
        .collect();
    for ns in &ours {
        ip(&["netns", "del", ns])?;
    }
    eprintln!("netlab {name}: removed {} namespace(s)", ours.len());
    Ok(())
}
