//! Container networking with the real docker CLI (issue 12 §3): published
//! ports (TCP, UDP, ephemeral, `-P`), `docker port` and `ps`, port
//! conflicts, container → container traffic, user-defined networks,
//! isolation, `--internal`, `none`/`host`/`container:` modes, and no
//! leftovers after many `run --rm -p`.
//!
//! (busybox's `wget -T` crashes with SIGSEGV in the fixture image, so
//! unanswered connections are cut by `timeout` instead.)
//!
//! Every daemon runs in a network namespace of its own (see
//! `skiff_e2e::netns`); traffic goes only to its loopback and to the
//! bridges and containers it made.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

#[path = "networking/common.rs"]
mod common;

use common::{HTTPD, exec_until_ok, inspect, links, with_busybox};
use skiff_e2e::Skiffd;

/// `GET /` on `addr` inside the daemon's namespace, retried while the
/// server is starting.
fn http_get(d: &Skiffd, addr: SocketAddr) -> String {
    d.netns().http_get_ok(addr, "/")
}

/// The TCP listeners of the daemon's namespace (`/proc/net/tcp` rows in
/// state LISTEN).
fn listeners(d: &Skiffd) -> usize {
    d.netns().run(|| {
        std::fs::read_to_string("/proc/thread-self/net/tcp")
            .unwrap_or_default()
            .lines()
            .skip(1)
            .filter(|l| l.split_whitespace().nth(3) == Some("0A"))
            .count()
    })
}

/// A free port of the daemon's namespace.
fn free_port(d: &Skiffd) -> u16 {
    d.netns().free_port(Ipv4Addr::LOCALHOST)
}

#[test]
fn published_ports_and_bridge_networking() {
    let d = with_busybox();
    let names = d.docker_ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    assert_eq!(names, "bridge bridge\nhost host\nnone null\n");

    // -p 127.0.0.1:H:80: the host reaches the container's httpd.
    let h = free_port(&d);
    let web = d
        .docker_ok(&[
            "run",
            "-d",
            "--name",
            "web",
            "-e",
            "BODY=hello-web",
            "-p",
            &format!("127.0.0.1:{h}:80"),
            "busybox",
            "sh",
            "-c",
            HTTPD,
        ])
        .trim()
        .to_owned();
    let page = http_get(&d, SocketAddr::from((Ipv4Addr::LOCALHOST, h)));
    assert!(page.ends_with("hello-web\n"), "{page}");
    assert_eq!(
        d.docker_ok(&["port", "web"]),
        format!("80/tcp -> 127.0.0.1:{h}\n")
    );
    let ps = d.docker_ok(&["ps", "--format", "{{.Names}} {{.Ports}}"]);
    assert_eq!(ps, format!("web 127.0.0.1:{h}->80/tcp\n"));
    assert_eq!(
        inspect(&d, "web", "{{json .NetworkSettings.Ports}}"),
        format!(r#"{{"80/tcp":[{{"HostIp":"127.0.0.1","HostPort":"{h}"}}]}}"#)
    );
    assert_eq!(
        inspect(&d, "web", "{{json .HostConfig.PortBindings}}"),
        format!(r#"{{"80/tcp":[{{"HostIp":"127.0.0.1","HostPort":"{h}"}}]}}"#)
    );
    let ip = inspect(&d, "web", "{{.NetworkSettings.IPAddress}}");
    assert_eq!(ip, "172.17.0.2");
    assert_eq!(
        inspect(&d, "web", "{{.NetworkSettings.Gateway}}"),
        "172.17.0.1"
    );
    assert_eq!(
        inspect(&d, "web", "{{.NetworkSettings.MacAddress}}"),
        "02:42:ac:11:00:02"
    );
    assert_eq!(
        inspect(&d, "web", "{{.NetworkSettings.Networks.bridge.IPAddress}}"),
        ip
    );
    let inspected = d.docker_ok(&["network", "inspect", "bridge", "-f", "{{json .Containers}}"]);
    assert!(
        inspected.contains(&web) && inspected.contains("172.17.0.2/16"),
        "{inspected}"
    );
    // /etc/hosts names the container's own address.
    let hosts = d.docker_ok(&["exec", "web", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{ip}\t{}", &web[..12])), "{hosts}");

    // The same host port again: dockerd's error, exit 125.
    let (code, err) = d.docker_fail(&[
        "run",
        "-d",
        "--name",
        "clash",
        "-p",
        &format!("127.0.0.1:{h}:80"),
        "busybox",
        "sleep",
        "60",
    ]);
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains(&format!(
            "Bind for 127.0.0.1:{h} failed: port is already allocated"
        )),
        "{err}"
    );
    assert!(
        err.contains("driver failed programming external connectivity on endpoint clash"),
        "{err}"
    );
    assert_eq!(inspect(&d, "clash", "{{.State.Running}}"), "false");
    d.docker_ok(&["rm", "clash"]);

    // -p H:80 answers on the namespace's 127.0.0.1 too.
    let h2 = free_port(&d);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "web2",
        "-e",
        "BODY=hello-two",
        "-p",
        &format!("{h2}:80"),
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ]);
    let page = http_get(&d, SocketAddr::from((Ipv4Addr::LOCALHOST, h2)));
    assert!(page.ends_with("hello-two\n"), "{page}");

    // -P --expose 80: an ephemeral port, shown by docker port.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "web3",
        "-e",
        "BODY=hello-three",
        "-P",
        "--expose",
        "80",
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ]);
    let port = d.docker_ok(&["port", "web3", "80"]);
    let mapped: u16 = port
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("docker port: {port}"));
    assert!(port.starts_with("0.0.0.0:"), "{port}");
    let page = http_get(&d, SocketAddr::from((Ipv4Addr::LOCALHOST, mapped)));
    assert!(page.ends_with("hello-three\n"), "{page}");

    // Container → container by IP on the default bridge.
    let got = d.docker_ok(&[
        "run",
        "--rm",
        "busybox",
        "wget",
        "-qO-",
        &format!("http://{ip}/"),
    ]);
    assert_eq!(got, "hello-web\n");

    // A user-defined network: two containers reach each other; the bridge
    // network's containers do not reach them (isolation).
    d.docker_ok(&["network", "create", "--subnet", "10.99.0.0/24", "appnet"]);
    let (code, err) = d.docker_fail(&["network", "create", "appnet"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("network with name appnet already exists"),
        "{err}"
    );
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "api",
        "--network",
        "appnet",
        "--ip",
        "10.99.0.50",
        "-e",
        "BODY=hello-api",
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ]);
    assert_eq!(
        inspect(&d, "api", "{{.NetworkSettings.Networks.appnet.IPAddress}}"),
        "10.99.0.50"
    );
    let got = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "appnet",
        "busybox",
        "wget",
        "-qO-",
        "http://10.99.0.50/",
    ]);
    assert_eq!(got, "hello-api\n");
    let out = d.docker_run(&[
        "run",
        "--rm",
        "busybox",
        "timeout",
        "3",
        "wget",
        "-qO-",
        "http://10.99.0.50/",
    ]);
    assert!(
        !out.success(),
        "bridge → appnet must be dropped: {}",
        out.stdout
    );

    // network rm of a network in use is refused.
    let (code, err) = d.docker_fail(&["network", "rm", "appnet"]);
    assert_eq!(code, 1);
    assert!(err.contains("has active endpoints"), "{err}");
    let (_, err) = d.docker_fail(&["network", "rm", "bridge"]);
    assert!(
        err.contains("bridge is a pre-defined network and cannot be removed"),
        "{err}"
    );

    // connect / disconnect a running container.
    d.docker_ok(&["network", "connect", "appnet", "web"]);
    let got = d.docker_ok(&["exec", "web", "wget", "-qO-", "http://10.99.0.50/"]);
    assert_eq!(got, "hello-api\n");
    d.docker_ok(&["network", "disconnect", "appnet", "web"]);
    let out = d.docker_run(&[
        "exec",
        "web",
        "timeout",
        "3",
        "wget",
        "-qO-",
        "http://10.99.0.50/",
    ]);
    assert!(!out.success(), "disconnected: {}", out.stdout);

    // none: loopback only; host: the daemon's namespace; container: shares.
    let none = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    assert_eq!(none.lines().count(), 1, "{none}");
    assert!(none.contains(": lo:"), "{none}");
    let host = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    assert!(host.contains("skiff0"), "{host}");
    let shared = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "container:web",
        "busybox",
        "wget",
        "-qO-",
        "http://127.0.0.1/",
    ]);
    assert_eq!(shared, "hello-web\n");

    // --internal: no route out (a listener on the gateway is not reached).
    d.docker_ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.98.0.0/24",
        "sealed",
    ]);
    let out = d.docker_run(&[
        "run",
        "--rm",
        "--network",
        "sealed",
        "busybox",
        "timeout",
        "3",
        "wget",
        "-qO-",
        &format!("http://172.17.0.1:{h2}/"),
    ]);
    assert!(
        !out.success(),
        "internal network reached out: {}",
        out.stdout
    );
    // …while the default bridge does reach the gateway's published port.
    let got = d.docker_ok(&[
        "run",
        "--rm",
        "busybox",
        "wget",
        "-qO-",
        &format!("http://172.17.0.1:{h2}/"),
    ]);
    assert_eq!(got, "hello-two\n");

    // Stopped containers give their ports back.
    d.docker_ok(&["rm", "-f", "web", "web2", "web3", "api"]);
    d.docker_ok(&["network", "rm", "appnet", "sealed"]);
    let ls = d.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(ls, "bridge\nhost\nnone\n");
}

#[test]
fn udp_ports_and_no_leftovers_after_many_runs() {
    let d = with_busybox();
    // UDP, both ways through the published port. The fixture busybox has
    // no UDP listener, so the test binds one inside the container's
    // network namespace (a socket keeps the namespace it was made in).
    let u = free_port(&d);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "echo",
        "-p",
        &format!("127.0.0.1:{u}:5000/udp"),
        "busybox",
        "sleep",
        "300",
    ]);
    let pid = inspect(&d, "echo", "{{.State.Pid}}");
    let inside = skiff_net::netns::NetNs::open(format!("/proc/{pid}/ns/net"))
        .expect("container netns")
        .run(|| std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 5000)))
        .expect("enter")
        .expect("bind in the container");
    inside
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let client = d
        .netns()
        .udp_socket(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .expect("udp socket");
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    client
        .send_to(b"ping-udp", (Ipv4Addr::LOCALHOST, u))
        .expect("send");
    let mut buf = [0u8; 64];
    let (n, from) = inside
        .recv_from(&mut buf)
        .expect("datagram in the container");
    assert_eq!(&buf[..n], b"ping-udp");
    inside.send_to(b"pong-udp", from).expect("reply");
    let (n, _) = client.recv_from(&mut buf).expect("reply through the proxy");
    assert_eq!(&buf[..n], b"pong-udp");
    assert_eq!(
        d.docker_ok(&["port", "echo"]),
        format!("5000/udp -> 127.0.0.1:{u}\n")
    );
    d.docker_ok(&["rm", "-f", "echo"]);

    // Many `run --rm -p`: no veth, listener or rule left behind.
    let before_links = links(&d);
    let before_listeners = listeners(&d);
    for _ in 0..50 {
        let h = free_port(&d);
        d.docker_ok(&[
            "run",
            "--rm",
            "-p",
            &format!("127.0.0.1:{h}:80"),
            "busybox",
            "true",
        ]);
    }
    assert_eq!(links(&d), before_links);
    assert_eq!(listeners(&d), before_listeners);
    let rules = d.netns().run(|| {
        std::process::Command::new("nft")
            .args(["list", "chain", "ip", "skiff", "published"])
            .output()
    });
    let rules = String::from_utf8_lossy(&rules.expect("nft").stdout).into_owned();
    assert!(!rules.contains("dnat"), "{rules}");
}

#[test]
fn published_ports_survive_a_daemon_kill_9() {
    let mut d = with_busybox();
    let (h1, h2) = (free_port(&d), free_port(&d));
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "keeps",
        "-e",
        "BODY=still-here",
        "-p",
        &format!("127.0.0.1:{h1}:80"),
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "dies",
        "-p",
        &format!("127.0.0.1:{h2}:80"),
        "busybox",
        "sleep",
        "300",
    ]);
    http_get(&d, SocketAddr::from((Ipv4Addr::LOCALHOST, h1)));
    let dies_pid: i32 = inspect(&d, "dies", "{{.State.Pid}}").parse().expect("pid");
    d.kill9();
    // While skiffd is down, one container ends.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(dies_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the container");
    d.restart();
    // The running one answers on its port again (its proxy is back).
    let page = http_get(&d, SocketAddr::from((Ipv4Addr::LOCALHOST, h1)));
    assert!(page.ends_with("still-here\n"), "{page}");
    assert_eq!(
        d.docker_ok(&["port", "keeps"]),
        format!("80/tcp -> 127.0.0.1:{h1}\n")
    );
    // The dead one's port and address went back: another container takes them.
    assert_eq!(inspect(&d, "dies", "{{.State.Running}}"), "false");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "takes",
        "-p",
        &format!("127.0.0.1:{h2}:80"),
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(
        inspect(&d, "takes", "{{.NetworkSettings.IPAddress}}"),
        "172.17.0.4"
    );
    d.docker_ok(&["rm", "-f", "keeps", "dies", "takes"]);
    let links = links(&d);
    assert!(!links.iter().any(|l| l.starts_with("veth")), "{links:?}");
}

/// Embedded DNS (issue 12): containers on a user-defined network resolve
/// each other's names, aliases and short ids through `127.0.0.11`; not
/// after a disconnect, never on the default bridge. `--dns`,
/// `--dns-search`, `--add-host`, `--domainname` land in the files. Every
/// container that queries has `--dns 127.0.0.1` (its own loopback, where
/// nothing listens), so a name that is not a container's is never
/// forwarded out of the test's namespaces.
#[test]
fn embedded_dns_resolves_container_names_on_user_networks() {
    let mut d = with_busybox();
    d.docker_ok(&["network", "create", "--subnet", "10.97.0.0/24", "dnsnet"]);
    let web = d
        .docker_ok(&[
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            "dnsnet",
            "--network-alias",
            "webalias",
            "-e",
            "BODY=hello-dns",
            "busybox",
            "sh",
            "-c",
            HTTPD,
        ])
        .trim()
        .to_owned();
    // `--dns-search .`: no search domain (busybox's nslookup would try
    // only NAME.DOMAIN).
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "client",
        "--network",
        "dnsnet",
        "--dns",
        "127.0.0.1",
        "--dns-search",
        ".",
        "busybox",
        "sleep",
        "600",
    ]);
    let ip = inspect(&d, "web", "{{.NetworkSettings.Networks.dnsnet.IPAddress}}");
    assert!(ip.starts_with("10.97.0."), "{ip}");

    let resolv = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "dnsnet",
        "--dns",
        "127.0.0.1",
        "--dns-search",
        "example.test",
        "busybox",
        "cat",
        "/etc/resolv.conf",
    ]);
    let lines: Vec<&str> = resolv.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(lines.contains(&"nameserver 127.0.0.11"), "{resolv}");
    assert!(!lines.contains(&"nameserver 127.0.0.1"), "{resolv}");
    assert!(lines.contains(&"search example.test"), "{resolv}");
    assert!(lines.contains(&"options ndots:0"), "{resolv}");
    assert!(resolv.contains("# ExtServers: [127.0.0.1]"), "{resolv}");

    for name in ["web", "webalias", &web[..12]] {
        let out = exec_until_ok(&d, "client", &["nslookup", name]);
        assert!(out.contains(&ip), "{name}: {out}");
    }
    d.docker_ok(&["exec", "client", "ping", "-c1", "-W", "5", "web"]);
    for name in ["web", "webalias"] {
        let page = exec_until_ok(&d, "client", &["wget", "-qO-", &format!("http://{name}/")]);
        assert_eq!(page, "hello-dns\n", "{name}");
    }
    // The server is made again when the container restarts.
    d.docker_ok(&["restart", "-t", "0", "client"]);
    let out = exec_until_ok(&d, "client", &["nslookup", "webalias"]);
    assert!(out.contains(&ip), "after restart: {out}");
    // …and after skiffd is killed and restarted, for running containers.
    d.kill9();
    d.restart();
    d.assert_consistent_and_swept();
    let out = exec_until_ok(&d, "client", &["nslookup", "web"]);
    assert!(out.contains(&ip), "after a daemon restart: {out}");

    // Disconnected: the name is gone (and the query goes nowhere).
    d.docker_ok(&["network", "disconnect", "dnsnet", "web"]);
    let out = d.docker_run(&["exec", "client", "timeout", "10", "nslookup", "web"]);
    assert!(!out.success(), "disconnected web resolves: {}", out.stdout);

    // The default bridge: no names; the file is the host's with --dns.
    d.docker_ok(&["run", "-d", "--name", "plain", "busybox", "sleep", "600"]);
    let out = d.docker_run(&[
        "run",
        "--rm",
        "--dns",
        "127.0.0.1",
        "busybox",
        "sh",
        "-c",
        "cat /etc/resolv.conf; timeout 10 nslookup plain",
    ]);
    assert!(
        !out.success(),
        "default bridge resolves names: {}",
        out.stdout
    );
    assert!(
        out.stdout.contains("nameserver 127.0.0.1\n"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("127.0.0.11"), "{}", out.stdout);

    // --add-host (host-gateway: the network's gateway), --domainname.
    let hosts = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "dnsnet",
        "--add-host",
        "x:1.2.3.4",
        "--add-host",
        "gw:host-gateway",
        "--hostname",
        "box",
        "--domainname",
        "example.test",
        "busybox",
        "cat",
        "/etc/hosts",
    ]);
    assert!(hosts.contains("1.2.3.4\tx\n"), "{hosts}");
    assert!(hosts.contains("10.97.0.1\tgw\n"), "{hosts}");
    assert!(hosts.contains("\tbox.example.test box\n"), "{hosts}");
    let (_, err) = d.docker_fail(&["run", "--rm", "--link", "web:w", "busybox", "true"]);
    assert!(
        err.contains("Cannot link to /web, as it does not belong to the default network"),
        "{err}"
    );

    d.docker_ok(&["rm", "-f", "web", "client", "plain"]);
    d.docker_ok(&["network", "rm", "dnsnet"]);
}
