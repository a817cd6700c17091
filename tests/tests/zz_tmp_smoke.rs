use skiff_e2e::{Skiffd, SkiffdOpts, Registry};

#[test]
fn lifecycle() {
    let mut d = Skiffd::start(SkiffdOpts::default());
    let pid1 = d.pid();
    d.restart();
    assert!(d.ping());
    d.kill9();
    assert!(!d.ping());
    assert!(!d.is_running());
    d.restart();
    assert!(d.ping() && d.pid() != pid1);
    assert!(d.logs().contains("start #3"));
    eprintln!("dir {}", d.dir().display());
}

#[test]
#[should_panic]
fn shows_log_on_panic() {
    let d = Skiffd::start(SkiffdOpts::default());
    d.docker_ok(&["run", "--rm", "busybox", "true"]);
}

#[test]
fn bad_config() {
    let err = Skiffd::try_start(SkiffdOpts::default().no_mirror().config_json("{not json")).err();
    eprintln!("bad config: {err:?}");
}

#[test]
fn many_registries() {
    let regs: Vec<Registry> = (0..12).map(|_| Registry::start()).collect();
    let mut ports: Vec<u16> = regs.iter().map(|r| r.port()).collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 12);
}
