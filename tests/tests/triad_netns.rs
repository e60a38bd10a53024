//! A triad whose members are separate hosts: each lmgrd runs in a network
//! namespace the test creates, with its own address on a bridge in the
//! root namespace (where the clients run). The test then cuts the master
//! off by taking its link down, and heals it.
//!
//! Needs root and `ip` (iproute2); without them the test says so and does
//! nothing (the loopback triad tests in triad.rs cover the rest).

use e2e::*;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use wire::{lmerr, Message};

const WAIT: Duration = Duration::from_secs(30);

/// Runs `ip args...`; true when it succeeded.
fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Three namespaces on a bridge, removed when dropped.
struct Net {
    tag: u32,
    subnet: String,
}

impl Net {
    fn bridge(&self) -> String {
        format!("lmb{}", self.tag)
    }
    fn ns(&self, i: usize) -> String {
        format!("lmt{}{i}", self.tag)
    }
    /// The root namespace's end of member `i`'s link.
    fn link(&self, i: usize) -> String {
        format!("lr{}{i}", self.tag)
    }
    fn addr(&self, i: usize) -> String {
        format!("{}.{}", self.subnet, i + 1)
    }

    /// Creates the namespaces, or `None` when this machine cannot.
    fn create() -> Option<Net> {
        let pid = std::process::id();
        let net = Net {
            tag: pid % 100_000,
            subnet: format!("10.{}.{}", 20 + pid % 200, (pid / 200) % 250),
        };
        let br = net.bridge();
        if !ip(&["link", "add", "name", &br, "type", "bridge"]) {
            return None;
        }
        let gw = format!("{}.254/24", net.subnet);
        let mut ok = ip(&["addr", "add", &gw, "dev", &br]) && ip(&["link", "set", &br, "up"]);
        for i in 0..3 {
            let (ns, root_end, ns_end) = (net.ns(i), net.link(i), format!("ln{}{i}", net.tag));
            let cidr = format!("{}/24", net.addr(i));
            ok = ok
                && ip(&["netns", "add", &ns])
                && ip(&[
                    "link", "add", &root_end, "type", "veth", "peer", "name", &ns_end,
                ])
                && ip(&["link", "set", &ns_end, "netns", &ns])
                && ip(&["link", "set", &root_end, "master", &br, "up"])
                && ip(&["-n", &ns, "addr", "add", &cidr, "dev", &ns_end])
                && ip(&["-n", &ns, "link", "set", &ns_end, "up"])
                && ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        ok.then_some(net)
    }

    fn cut(&self, i: usize) {
        assert!(
            ip(&["link", "set", &self.link(i), "down"]),
            "cut member {i}"
        );
    }

    fn heal(&self, i: usize) {
        assert!(ip(&["link", "set", &self.link(i), "up"]), "heal member {i}");
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for i in 0..3 {
            ip(&["netns", "del", &self.ns(i)]);
            ip(&["link", "del", &self.link(i)]);
        }
        ip(&["link", "del", &self.bridge()]);
    }
}

/// The example triad license with SERVER lines on the members' addresses.
fn license(net: &Net, dir: &Path, port: u16) -> PathBuf {
    let text = std::fs::read_to_string(examples().join("triad.lic")).unwrap();
    // As in the example: the primary is master whenever it is up.
    let servers: Vec<String> = (0..3)
        .map(|i| {
            let extra = if i == 0 { "PRIMARY_IS_MASTER" } else { "" };
            format!("SERVER {} ANY {port} {extra}", net.addr(i))
        })
        .collect();
    let text = with_servers(&text, &servers);
    let path = dir.join("triad.lic");
    std::fs::write(&path, text).unwrap();
    path
}

fn lookup(addr: SocketAddr) -> Option<Result<u16, i32>> {
    Peer::try_vendor_port(addr, "demo").map(|r| r.map_err(|e| e.code))
}

#[test]
fn a_master_cut_off_from_the_others_stops_serving_before_another_starts() {
    let Some(net) = Net::create() else {
        eprintln!("skipped: creating network namespaces needs root and iproute2");
        return;
    };
    let dir = tempdir("triad-netns");
    let port = free_port();
    let lic = license(&net, &dir, port);
    // Each member finds its own SERVER line by its address: no option.
    let members: Vec<Server> = (0..3)
        .map(|i| {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", &net.ns(i)])
                .arg(bin("lmgrd"))
                .args(["-z", "-c"])
                .arg(&lic);
            Server::start_command(cmd, &lic, port)
        })
        .collect();
    let at = |i: usize| SocketAddr::new(net.addr(i).parse().unwrap(), port);
    wait_until(WAIT, "the primary to serve", || {
        matches!(lookup(at(0)), Some(Ok(_)))
    });
    assert!(matches!(lookup(at(1)), Some(Err(lmerr::LM_BUSYNEWSERV))));
    let vport = lookup(at(0)).unwrap().unwrap();
    let vd0 = SocketAddr::new(at(0).ip(), vport);
    // Three seats are held through the primary.
    let mut holders: Vec<Peer> = (0..3)
        .map(|n| {
            let mut p = Peer::hello(vd0, &format!("user{n}"), 100 + n);
            assert!(matches!(p.checkout(1, "f1", 1), Message::Granted(_)));
            p
        })
        .collect();

    let cut_at = Instant::now();
    net.cut(0);
    members[1].wait_log(WAIT, "This server is now the master");
    members[0].wait_log(WAIT, "This server no longer serves licenses");
    let stopped = members[0]
        .arrival_of("This server no longer serves licenses")
        .unwrap();
    let started = members[1]
        .arrival_of("This server is now the master")
        .unwrap();
    assert!(
        stopped < started,
        "the old master stopped {:?} after the cut, the new one started {:?} after it",
        stopped - cut_at,
        started - cut_at
    );
    // The new master has every seat: three held, seventeen free.
    let vport = lookup(at(1)).unwrap().unwrap();
    let vd1 = SocketAddr::new(at(1).ip(), vport);
    wait_until(WAIT, "the seats to be known on the new master", || {
        in_use(vd1, "f1") == 3
    });
    let mut newcomer = Peer::hello(vd1, "newcomer", 7);
    assert!(matches!(
        newcomer.checkout(1, "f1", 18),
        Message::Denied(d) if d.code == lmerr::LM_MAXUSERS
    ));
    assert!(matches!(
        newcomer.checkout(2, "f1", 17),
        Message::Granted(_)
    ));

    // Healed, the old master rejoins: with PRIMARY_IS_MASTER it takes
    // mastership back, and the seats are still all there.
    net.heal(0);
    members[0].wait_log_count(WAIT, "This server is now the master", 2);
    let vport = lookup(at(0)).unwrap().unwrap();
    wait_until(WAIT, "every seat on the primary again", || {
        in_use(SocketAddr::new(at(0).ip(), vport), "f1") == 20
    });
    assert!(matches!(lookup(at(1)), Some(Err(lmerr::LM_BUSYNEWSERV))));
    holders.clear();
}
