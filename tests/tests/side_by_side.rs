//! Skiffd beside a user's own Docker on one host (issue 18).
//!
//! Debian's dockerd runs with its defaults — `docker0`, its iptables rules,
//! IP forwarding, masquerade, the userland proxy — and skiffd with its
//! networking (`skiff0`, its nftables table `ip skiff`), both in one network
//! namespace that stands in for the host (a test's namespace, so the real
//! host's network is never touched). Each engine serves a published port
//! and container-to-container traffic while the other runs; stopping either
//! leaves the other's containers, bridge and rules working. Both orders of
//! start are tried: each engine must pick a bridge subnet the other does not
//! use.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

use skiff_e2e::docker::DockerCli;
use skiff_e2e::netns::TestNetns;
use skiff_e2e::{Dockerd, Skiffd, SkiffdOpts};

/// A busybox httpd serving `$BODY` at `/` on port 80.
const HTTPD: &str = "mkdir -p /www && echo $BODY > /www/index.html && exec httpd -f -p 80 -h /www";

/// The docker CLI pointed at `dockerd`.
fn cli(dockerd: &Dockerd) -> DockerCli {
    DockerCli::new(
        format!("unix://{}", dockerd.socket().display()),
        dockerd.dir().join("cli"),
    )
}

/// The body of `GET /` on the namespace's `127.0.0.1:port`, retried while
/// the server starts.
fn http_get(ns: &TestNetns, port: u16) -> String {
    let out = ns.http_get_ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), "/");
    out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned()
}

/// A free port of the namespace.
fn free_port(ns: &TestNetns) -> u16 {
    ns.free_port(Ipv4Addr::LOCALHOST)
}

/// `cmd args…` run inside the namespace; its stdout.
fn in_ns(ns: &TestNetns, cmd: &str, args: &[&str]) -> String {
    let out = ns
        .run(|| Command::new(cmd).args(args).output())
        .unwrap_or_else(|e| panic!("{cmd} {args:?}: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One engine as the test drives it.
struct Engine<'a> {
    name: &'static str,
    docker: &'a DockerCli,
}

impl Engine<'_> {
    fn ok(&self, args: &[&str]) -> String {
        self.docker.ok(args).trim().to_owned()
    }

    /// The subnet of the engine's default `bridge` network.
    fn bridge_subnet(&self) -> String {
        self.ok(&[
            "network",
            "inspect",
            "bridge",
            "-f",
            "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
        ])
    }

    /// A detached httpd named `name` answering `body`, published on the
    /// namespace's `127.0.0.1:port`.
    fn serve(&self, name: &str, port: u16, body: &str) {
        self.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "-e",
            &format!("BODY={body}"),
            "-p",
            &format!("127.0.0.1:{port}:80"),
            "busybox",
            "sh",
            "-c",
            HTTPD,
        ]);
    }

    /// What a fresh container on the default bridge gets from `GET /` of
    /// container `name`, by its address.
    fn fetch_from_container(&self, name: &str) -> String {
        let ip = self.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", name]);
        let out = self.docker.run(&[
            "run",
            "--rm",
            "busybox",
            "timeout",
            "10",
            "wget",
            "-qO-",
            &format!("http://{ip}/"),
        ]);
        assert!(
            out.success(),
            "{}: a container cannot reach {name} at {ip}: {out:?}",
            self.name
        );
        out.stdout.trim().to_owned()
    }

    /// Published port and container-to-container traffic work for a new
    /// container; it is removed afterwards.
    fn works(&self, ns: &TestNetns, tag: &str) {
        let name = format!("{}-{tag}", self.name);
        let port = free_port(ns);
        self.serve(&name, port, &name);
        assert_eq!(
            http_get(ns, port).trim(),
            name,
            "{}: published port",
            self.name
        );
        assert_eq!(
            self.fetch_from_container(&name),
            name,
            "{}: bridge",
            self.name
        );
        self.ok(&["rm", "-f", &name]);
    }
}

fn pull_busybox(docker: &DockerCli) {
    docker.ok(&["pull", "-q", "busybox"]);
}

/// Interfaces of the namespace.
fn links(ns: &TestNetns) -> String {
    in_ns(ns, "ip", &["-o", "link", "show"])
}

#[test]
fn skiffd_first_then_dockerd_and_each_survives_the_other_stopping() {
    let mut d = Skiffd::start(SkiffdOpts::default());
    pull_busybox(d.docker());
    let skiff_subnet_alone = Engine {
        name: "skiffd",
        docker: d.docker(),
    }
    .bridge_subnet();

    let mut k = Dockerd::start_beside(d.netns());
    let kcli = cli(&k);
    pull_busybox(&kcli);
    let ns = d.netns();
    let (sk, dk) = (
        Engine {
            name: "skiffd",
            docker: d.docker(),
        },
        Engine {
            name: "dockerd",
            docker: &kcli,
        },
    );
    // Long-lived servers on both; both answer, and each engine's bridge
    // carries container-to-container traffic despite the other's rules
    // (dockerd sets the FORWARD policy to DROP).
    let (sp, dp) = (free_port(ns), free_port(ns));
    sk.serve("s-web", sp, "from-skiffd");
    dk.serve("d-web", dp, "from-dockerd");
    // skiffd's bridge device did not exist before its first container, so
    // dockerd may have elected the same subnet for docker0; skiffd then
    // moves its bridge at that first join, as dockerd does at its start.
    let (s_net, d_net) = (sk.bridge_subnet(), dk.bridge_subnet());
    assert_ne!(s_net, d_net, "both engines on one bridge subnet");
    if d_net == skiff_subnet_alone {
        eprintln!("dockerd took {d_net}; skiffd's bridge moved to {s_net}");
    } else {
        assert_eq!(
            s_net, skiff_subnet_alone,
            "skiffd's bridge moved for nothing"
        );
    }
    let all = links(ns);
    assert!(all.contains("skiff0") && all.contains("docker0"), "{all}");
    assert_eq!(http_get(ns, sp).trim(), "from-skiffd");
    assert_eq!(http_get(ns, dp).trim(), "from-dockerd");
    sk.works(ns, "beside");
    dk.works(ns, "beside");

    // skiffd stops: dockerd's containers, bridge and rules are untouched.
    let iptables_before = in_ns(ns, "iptables-save", &[]);
    assert!(iptables_before.contains("-A DOCKER"), "{iptables_before}");
    d.stop();
    let ns = d.netns();
    assert_eq!(http_get(ns, dp).trim(), "from-dockerd");
    assert!(links(ns).contains("docker0"));
    let iptables_after = in_ns(ns, "iptables-save", &[]);
    for line in iptables_before.lines().filter(|l| l.starts_with('-')) {
        assert!(
            iptables_after.contains(line),
            "skiffd's stop removed dockerd's rule {line}"
        );
    }
    dk.works(ns, "skiffd-stopped");

    // skiffd back; then dockerd stops: skiffd's containers, bridge and
    // table are untouched.
    d.restart();
    let ns = d.netns();
    let sk = Engine {
        name: "skiffd",
        docker: d.docker(),
    };
    assert_eq!(http_get(ns, sp).trim(), "from-skiffd");
    let table = in_ns(ns, "nft", &["list", "table", "ip", "skiff"]);
    k.stop();
    assert_eq!(http_get(ns, sp).trim(), "from-skiffd");
    assert!(links(ns).contains("skiff0"));
    assert_eq!(
        in_ns(ns, "nft", &["list", "table", "ip", "skiff"]),
        table,
        "dockerd's stop changed skiffd's table"
    );
    sk.works(ns, "dockerd-stopped");
    assert_eq!(sk.bridge_subnet(), s_net);
}

#[test]
fn dockerd_first_then_skiffd_picks_another_subnet() {
    // The namespace first, with dockerd (and its docker0) in it; skiffd
    // starts second.
    let mut d = Skiffd::start(SkiffdOpts::default().stopped());
    let k = Dockerd::start_beside(d.netns());
    let kcli = cli(&k);
    pull_busybox(&kcli);
    let dk = Engine {
        name: "dockerd",
        docker: &kcli,
    };
    let d_net = dk.bridge_subnet();
    d.restart();
    pull_busybox(d.docker());
    let sk = Engine {
        name: "skiffd",
        docker: d.docker(),
    };
    let s_net = sk.bridge_subnet();
    assert_ne!(s_net, d_net, "skiffd took docker0's subnet");
    let ns = d.netns();
    sk.works(ns, "second");
    dk.works(ns, "first");
}
