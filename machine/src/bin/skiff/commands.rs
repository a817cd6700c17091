//! What each command does.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use skiff_machine::config::{Accel, MirrorAddr, Network};
use skiff_machine::shares::SharedFolder;
use skiff_machine::shell_env::{self, Shell};
use skiff_machine::{MachineConfig, MachineError, MachineInfo, Manager, StartProgress};

use crate::args::{AccelArg, Cli, Command, MachineCommand, NetworkArg, Settings, ShellArg};
use skiff_machine::units::parse_mib;

/// Runs `cli`.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Machine(MachineCommand::ConnectTcp { addr }) => crate::hidden::connect_tcp(&addr),
        Command::Machine(MachineCommand::ProbeKvm) => crate::hidden::probe_kvm(),
        Command::Machine(MachineCommand::Supervise { name }) => crate::hidden::supervise(&name),
        command => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(run_async(command))
        }
    }
}

async fn run_async(command: Command) -> Result<ExitCode> {
    let manager = Manager::from_env()?;
    match command {
        Command::Machine(cmd) => machine(&manager, cmd).await,
        Command::Env { name, shell } => {
            manager.info(&name)?;
            let shell = match shell {
                Some(ShellArg::Sh) => Shell::Sh,
                Some(ShellArg::Fish) => Shell::Fish,
                Some(ShellArg::Powershell) => Shell::Powershell,
                None => Shell::detect(),
            };
            let mut how = String::from("skiff env");
            if name != skiff_machine::DEFAULT_MACHINE {
                how.push(' ');
                how.push_str(&name);
            }
            if shell != Shell::Sh {
                how.push_str(match shell {
                    Shell::Fish => " --shell fish",
                    _ => " --shell powershell",
                });
            }
            print!(
                "{}",
                shell_env::script(shell, &manager.docker_host(&name), &how)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Up { name, settings } => {
            match manager.info(&name) {
                Ok(_) => {
                    if settings_given(&settings) {
                        eprintln!("machine {name} exists; its settings are kept");
                    }
                }
                Err(MachineError::NotFound { .. }) => {
                    manager.create(&config_from(&name, &settings)?)?;
                    eprintln!("created machine {name}");
                }
                Err(err) => return Err(err.into()),
            }
            start(&manager, &name).await?;
            let context = skiff_machine::docker_context::context_name(&name);
            println!("Machine {name} is running. Use it with:");
            println!(
                "  eval \"$(skiff env{})\"       # this shell",
                if name == skiff_machine::DEFAULT_MACHINE {
                    String::new()
                } else {
                    format!(" {name}")
                }
            );
            println!("  docker context use {context}    # every shell");
            println!("  docker --context {context} ps");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn settings_given(s: &Settings) -> bool {
    s.cpus.is_some()
        || s.memory.is_some()
        || s.disk.is_some()
        || s.registry_mirror.is_some()
        || s.image_dir.is_some()
        || s.accel.is_some()
        || s.network.is_some()
}

fn config_from(name: &str, s: &Settings) -> Result<MachineConfig> {
    let mut config = MachineConfig::new(name);
    if let Some(cpus) = s.cpus {
        config.cpus = cpus;
    }
    if let Some(memory) = &s.memory {
        config.memory_mib = parse_mib("memory", memory, 1)?;
    }
    if let Some(disk) = &s.disk {
        config.disk_gib = parse_mib("disk", disk, 1024)? / 1024;
    }
    if let Some(mirror) = &s.registry_mirror {
        MirrorAddr::parse(mirror)?;
        config.registry_mirror = Some(mirror.clone());
    }
    if let Some(dir) = &s.image_dir {
        config.image_dir = Some(std::path::absolute(dir).context("--image-dir")?);
    }
    config.accel = match s.accel {
        Some(AccelArg::Kvm) => Accel::Kvm,
        Some(AccelArg::Tcg) => Accel::Tcg,
        Some(AccelArg::Auto) | None => Accel::Auto,
    };
    config.network = match s.network {
        Some(NetworkArg::Restricted) => Network::Restricted,
        Some(NetworkArg::Nat) | None => Network::Nat,
    };
    if !s.mounts.is_empty() {
        config.mounts = Some(mounts_from(&s.mounts)?);
    }
    config.validate()?;
    Ok(config)
}

/// `--mount` values: `none` alone shares nothing; relative host paths are
/// made absolute.
fn mounts_from(args: &[String]) -> Result<Vec<SharedFolder>> {
    if args.len() == 1 && args[0] == "none" {
        return Ok(Vec::new());
    }
    args.iter()
        .map(|arg| {
            let mut folder = SharedFolder::parse(arg)?;
            folder.host = std::path::absolute(&folder.host).context("--mount")?;
            Ok(folder)
        })
        .collect()
}

async fn start(manager: &Manager, name: &str) -> Result<()> {
    let progress = |p: StartProgress| {
        let mut err = std::io::stderr().lock();
        let _ = match p.phase.as_str() {
            "booting" if !p.message.starts_with("the VM") => writeln!(err, "  | {}", p.message),
            _ => writeln!(err, "{}: {}", p.phase, p.message),
        };
    };
    manager.start(name, &progress).await?;
    Ok(())
}

async fn machine(manager: &Manager, cmd: MachineCommand) -> Result<ExitCode> {
    match cmd {
        MachineCommand::Create { name, settings } => {
            let info = manager.create(&config_from(&name, &settings)?)?;
            println!(
                "created machine {} ({} CPUs, {} MiB, {} GiB disk)",
                info.name, info.cpus, info.memory_mib, info.disk_gib
            );
        }
        MachineCommand::Set {
            name,
            cpus,
            memory,
            mounts,
            network,
        } => {
            let memory = memory.map(|m| parse_mib("memory", &m, 1)).transpose()?;
            let mounts = if mounts.is_empty() {
                None
            } else {
                Some(mounts_from(&mounts)?)
            };
            if cpus.is_none() && memory.is_none() && mounts.is_none() && network.is_none() {
                bail!("nothing to change: give --cpus, --memory, --mount or --network");
            }
            let info = manager.set(&name, |c| {
                if let Some(cpus) = cpus {
                    c.cpus = cpus;
                }
                if let Some(memory) = memory {
                    c.memory_mib = memory;
                }
                if mounts.is_some() {
                    c.mounts = mounts;
                }
                match network {
                    Some(NetworkArg::Nat) => c.network = Network::Nat,
                    Some(NetworkArg::Restricted) => c.network = Network::Restricted,
                    None => {}
                }
            })?;
            println!(
                "machine {} set: {} CPUs, {} MiB",
                info.name, info.cpus, info.memory_mib
            );
            if info.state != skiff_machine::MachineState::Stopped {
                println!(
                    "it is {}: the change applies from its next start (skiff machine stop {name} && skiff machine start {name})",
                    format!("{:?}", info.state).to_lowercase()
                );
            }
        }
        MachineCommand::Start { name } => {
            start(manager, &name).await?;
            println!("machine {name} is running: {}", manager.docker_host(&name));
        }
        MachineCommand::Stop { name } => {
            manager.stop(&name).await?;
            println!("machine {name} stopped");
        }
        MachineCommand::Status { name, json } => {
            let info = manager.info(&name)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print_status(&info);
            }
        }
        MachineCommand::Rm { name } => {
            manager.remove(&name).await?;
            println!("machine {name} removed");
        }
        MachineCommand::List { json } => {
            let all = manager.list()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                println!(
                    "{:<16} {:<9} {:>4} {:>8} {:>6}  SOCKET",
                    "NAME", "STATE", "CPUS", "MEMORY", "DISK"
                );
                for m in all {
                    println!(
                        "{:<16} {:<9} {:>4} {:>6}Mi {:>4}Gi  {}",
                        m.name,
                        m.state.as_str(),
                        m.cpus,
                        m.memory_mib,
                        m.disk_gib,
                        m.socket.display()
                    );
                }
            }
        }
        MachineCommand::Logs { name, follow, tail } => {
            logs(manager, &name, follow, tail).await?;
        }
        MachineCommand::Shell { name, command } => {
            return crate::hidden::shell(manager, &name, &command).await;
        }
        MachineCommand::Supervise { .. }
        | MachineCommand::ConnectTcp { .. }
        | MachineCommand::ProbeKvm => {
            bail!("internal command run in the wrong place")
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_status(info: &MachineInfo) {
    let mut line = format!("{}: {}", info.name, info.state.as_str());
    if let Some(reason) = &info.reason {
        line.push_str(&format!(" ({reason})"));
    }
    println!("{line}");
    if std::io::stdout().is_terminal() {
        println!("  socket: {}", info.socket.display());
    }
}

async fn logs(manager: &Manager, name: &str, follow: bool, tail: Option<usize>) -> Result<()> {
    let dir = manager.dir(name)?;
    if !dir.exists() {
        return Err(MachineError::NotFound {
            name: name.to_string(),
        }
        .into());
    }
    let mut out = std::io::stdout().lock();
    let lines = manager.console_tail(name, tail.unwrap_or(usize::MAX))?;
    for line in &lines {
        writeln!(out, "{line}")?;
    }
    // Ports the host could not forward (the supervisor logs them too).
    for port in manager.ports(name).unwrap_or_default() {
        if let Some(error) = &port.error {
            writeln!(out, "skiff: port {}/{}: {error}", port.port, port.proto)?;
        }
    }
    out.flush()?;
    if !follow {
        return Ok(());
    }
    #[cfg(unix)]
    {
        let mut follower = skiff_machine::supervised::ConsoleFollower::new(dir.console());
        // Skip what was printed.
        let _ = follower.new_lines();
        loop {
            for line in follower.new_lines() {
                writeln!(out, "{line}")?;
            }
            out.flush()?;
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
    #[cfg(not(unix))]
    Ok(())
}
