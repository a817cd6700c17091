//! Container networking that changes while containers run, and the names
//! a container carries (issue 12), with the real docker CLI: `network
//! connect`/`disconnect` of a running container (its `/etc/hosts`, its
//! resolv.conf switching to the embedded DNS server, names resolving both
//! ways), `--network container:` sharing the other's files, `--hostname`
//! with dots and `--domainname` (the UTS namespace and `/etc/hosts`), and
//! hairpin (a container reaching its own published port through the
//! host's address on its bridge).
//!
//! Every daemon runs in a network namespace of its own; traffic goes only
//! to the bridges and containers it made. Every container that resolves a
//! name has `--dns 127.0.0.1` (its own loopback, where nothing listens),
//! so nothing is forwarded out of the test's namespaces.

use std::time::{Duration, Instant};

use skiff_e2e::{Skiffd, SkiffdOpts};

/// A busybox httpd serving `$BODY` at `/` on port 80.
const HTTPD: &str = "mkdir -p /www && echo $BODY > /www/index.html && exec httpd -f -p 80 -h /www";

fn with_busybox() -> Skiffd {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["pull", "-q", "busybox"]);
    d
}

fn inspect(d: &Skiffd, what: &str, format: &str) -> String {
    d.docker_ok(&["inspect", "-f", format, what])
        .trim()
        .to_owned()
}

/// `docker exec CONTAINER ARGS…` until it succeeds (a server starting),
/// for up to 20 s; its output.
fn exec_until_ok(d: &Skiffd, container: &str, args: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut full = vec!["exec", container];
    full.extend_from_slice(args);
    loop {
        let out = d.docker_run(&full);
        if out.success() {
            return out.stdout;
        }
        assert!(Instant::now() < deadline, "{full:?}: {}", out.stdout);
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn free_port(d: &Skiffd) -> u16 {
    d.netns()
        .tcp_listen(std::net::SocketAddr::from(([0, 0, 0, 0], 0)))
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Connect and disconnect of running containers, and `container:` mode.
#[test]
fn connect_and_disconnect_of_running_containers_follow_in_their_files() {
    let d = with_busybox();
    d.docker_ok(&["network", "create", "--subnet", "10.98.0.0/24", "livenet"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "livenet",
        "--dns",
        "127.0.0.1",
        "--dns-search",
        ".",
        "-e",
        "BODY=hello-live",
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ]);
    // On the default bridge: the host's file (with --dns), no names.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "cli",
        "--dns",
        "127.0.0.1",
        "--dns-search",
        ".",
        "busybox",
        "sleep",
        "600",
    ]);
    let resolv = d.docker_ok(&["exec", "cli", "cat", "/etc/resolv.conf"]);
    assert!(!resolv.contains("127.0.0.11"), "{resolv}");
    let out = d.docker_run(&["exec", "cli", "timeout", "10", "nslookup", "srv"]);
    assert!(!out.success(), "resolves before connect: {}", out.stdout);

    d.docker_ok(&[
        "network", "connect", "--alias", "clialias", "livenet", "cli",
    ]);
    let cli_ip = inspect(&d, "cli", "{{.NetworkSettings.Networks.livenet.IPAddress}}");
    let srv_ip = inspect(&d, "srv", "{{.NetworkSettings.Networks.livenet.IPAddress}}");
    assert!(cli_ip.starts_with("10.98.0."), "{cli_ip}");
    // resolv.conf now points at the embedded server, forwarding to --dns.
    let resolv = d.docker_ok(&["exec", "cli", "cat", "/etc/resolv.conf"]);
    let lines: Vec<&str> = resolv.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(lines.contains(&"nameserver 127.0.0.11"), "{resolv}");
    assert!(!lines.contains(&"nameserver 127.0.0.1"), "{resolv}");
    assert!(resolv.contains("# ExtServers: [127.0.0.1]"), "{resolv}");
    // /etc/hosts has the new address.
    let hosts = d.docker_ok(&["exec", "cli", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{cli_ip}\t")), "{hosts}");
    // Names resolve both ways, and traffic flows by name.
    let out = exec_until_ok(&d, "cli", &["nslookup", "srv"]);
    assert!(out.contains(&srv_ip), "{out}");
    let page = exec_until_ok(&d, "cli", &["wget", "-qO-", "http://srv/"]);
    assert_eq!(page, "hello-live\n");
    for name in ["cli", "clialias"] {
        let out = exec_until_ok(&d, "srv", &["nslookup", name]);
        assert!(out.contains(&cli_ip), "{name}: {out}");
    }

    // Disconnected: the address leaves /etc/hosts, the names leave DNS.
    d.docker_ok(&["network", "disconnect", "livenet", "cli"]);
    let hosts = d.docker_ok(&["exec", "cli", "cat", "/etc/hosts"]);
    assert!(!hosts.contains(&format!("{cli_ip}\t")), "{hosts}");
    let own = inspect(&d, "cli", "{{.NetworkSettings.Networks.bridge.IPAddress}}");
    assert!(hosts.contains(&format!("{own}\t")), "{hosts}");
    let out = d.docker_run(&["exec", "srv", "timeout", "10", "nslookup", "cli"]);
    assert!(!out.success(), "resolves after disconnect: {}", out.stdout);

    // `container:` shares the other's hostname, hosts and resolv.conf.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "side",
        "--network",
        "container:srv",
        "busybox",
        "sleep",
        "600",
    ]);
    for file in ["/etc/resolv.conf", "/etc/hosts", "/etc/hostname"] {
        assert_eq!(
            d.docker_ok(&["exec", "side", "cat", file]),
            d.docker_ok(&["exec", "srv", "cat", file]),
            "{file}"
        );
    }
    assert_eq!(
        d.docker_ok(&["exec", "side", "hostname"]),
        d.docker_ok(&["exec", "srv", "hostname"])
    );
    let page = exec_until_ok(&d, "side", &["wget", "-qO-", "http://127.0.0.1/"]);
    assert_eq!(page, "hello-live\n");
    let out = exec_until_ok(&d, "side", &["nslookup", "srv"]);
    assert!(out.contains(&srv_ip), "{out}");

    d.docker_ok(&["rm", "-f", "side", "srv", "cli"]);
    d.docker_ok(&["network", "rm", "livenet"]);
}

/// `--hostname` with dots and `--domainname`: the UTS namespace and
/// `/etc/hosts` as dockerd sets them.
#[test]
fn hostname_with_dots_and_domainname_as_dockerd() {
    let d = with_busybox();
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--hostname",
        "box",
        "--domainname",
        "example.test",
        "busybox",
        "sh",
        "-c",
        "cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname /etc/hostname; grep box /etc/hosts",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..3], ["box", "example.test", "box"], "{out}");
    assert!(lines[3].ends_with("\tbox.example.test box"), "{out}");

    // A dotted hostname: the UTS hostname is all of it, no domain name;
    // /etc/hosts has the FQDN and the first label.
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--hostname",
        "web.example.test",
        "busybox",
        "sh",
        "-c",
        "cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname; grep web /etc/hosts",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["web.example.test", "(none)"], "{out}");
    assert!(lines[2].ends_with("\tweb.example.test web"), "{out}");
    assert_eq!(
        d.docker_ok(&["run", "--rm", "--hostname", "a.b", "busybox", "hostname"]),
        "a.b\n"
    );
}

/// Hairpin: a container reaches its own published port (and another
/// container of its network does) through the host's address on their
/// bridge, on the default bridge and on a user-defined network.
#[test]
fn a_container_reaches_its_own_published_port_through_the_host() {
    let d = with_busybox();
    d.docker_ok(&["network", "create", "--subnet", "10.99.0.0/24", "hairnet"]);
    for (name, net, gateway) in [
        ("hp-bridge", "bridge", None),
        ("hp-user", "hairnet", Some("10.99.0.1")),
    ] {
        let port = free_port(&d);
        d.docker_ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            net,
            "-e",
            &format!("BODY={name}"),
            "-p",
            &format!("{port}:80"),
            "busybox",
            "sh",
            "-c",
            HTTPD,
        ]);
        let gateway = gateway
            .map(str::to_owned)
            .unwrap_or_else(|| inspect(&d, name, "{{.NetworkSettings.Gateway}}"));
        let url = format!("http://{gateway}:{port}/");
        let page = exec_until_ok(&d, name, &["wget", "-qO-", &url]);
        assert_eq!(page, format!("{name}\n"), "{url}");
        // Another container on its network reaches it the same way.
        let out = d.docker_ok(&[
            "run",
            "--rm",
            "--network",
            net,
            "busybox",
            "wget",
            "-qO-",
            &url,
        ]);
        assert_eq!(out, format!("{name}\n"), "{url} from another container");
    }
    d.docker_ok(&["rm", "-f", "hp-bridge", "hp-user"]);
    d.docker_ok(&["network", "rm", "hairnet"]);
}
