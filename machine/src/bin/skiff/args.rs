//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Skiff: a Docker-compatible engine in a small managed VM.
#[derive(Debug, Parser)]
#[command(name = "skiff", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage machines.
    #[command(subcommand)]
    Machine(MachineCommand),
    /// Print shell code pointing the docker CLI at a machine:
    /// eval "$(skiff env)".
    Env {
        /// The machine.
        #[arg(default_value = skiff_machine::DEFAULT_MACHINE)]
        name: String,
        /// The shell to print for (default: from $SHELL).
        #[arg(long, value_enum)]
        shell: Option<ShellArg>,
    },
    /// Create the machine if missing, start it, and say how to use it.
    Up {
        /// The machine.
        #[arg(default_value = skiff_machine::DEFAULT_MACHINE)]
        name: String,
        /// Settings for a machine that does not exist yet.
        #[command(flatten)]
        settings: Settings,
    },
}

/// `skiff machine …`.
#[derive(Debug, Subcommand)]
pub enum MachineCommand {
    /// Create a machine.
    Create {
        /// The machine.
        #[arg(default_value = skiff_machine::DEFAULT_MACHINE)]
        name: String,
        /// Its settings.
        #[command(flatten)]
        settings: Settings,
    },
    /// Change a machine's CPUs, memory, shared folders or networking (from its next
    /// start).
    Set {
        /// The machine.
        #[arg(default_value = skiff_machine::DEFAULT_MACHINE)]
        name: String,
        /// vCPUs.
        #[arg(long)]
        cpus: Option<u32>,
        /// Memory: MiB, or with a unit (2G, 512M).
        #[arg(long)]
        memory: Option<String>,
        /// The shared folders, replacing the current ones (repeatable):
        /// HOST[:GUEST][:ro]; `--mount none` shares nothing.
        #[arg(long = "mount", value_name = "HOST[:GUEST][:ro]")]
        mounts: Vec<String>,
        /// Guest networking: nat or restricted.
        #[arg(long, value_enum)]
        network: Option<NetworkArg>,
    },
    /// Start a machine; returns when the engine answers.
    Start {
        /// The machine.
        #[arg(default_value = skiff_machine::DEFAULT_MACHINE)]
        name: String,
    },
    /// Stop a machine (graceful, with a timeout).
    Stop {
        /// The machine.
        #[arg(default_value = skiff_machine::DEFAULT_MACHINE)]
        name: String,
    },
    /// Show a machine's state.
    Status {
        /// The machine.
        #[arg(default_value = skiff_machine::DEFAULT_MACHINE)]
        name: String,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop and delete a machine, every file of it.
    #[command(alias = "remove")]
    Rm {
        /// The machine.
        #[arg(default_value = skiff_machine::DEFAULT_MACHINE)]
        name: String,
    },
    /// List machines.
    #[command(alias = "ls")]
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the guest console.
    Logs {
        /// The machine.
        #[arg(default_value = skiff_machine::DEFAULT_MACHINE)]
        name: String,
        /// Keep following it.
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(short = 'n', long)]
        tail: Option<usize>,
    },
    /// Open a shell inside the machine (root, busybox sh), or run a
    /// command there.
    Shell {
        /// The machine.
        #[arg(default_value = skiff_machine::DEFAULT_MACHINE)]
        name: String,
        /// A command to run instead of an interactive shell.
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// (internal) Run a machine: the detached supervisor.
    #[command(hide = true)]
    Supervise {
        /// The machine.
        name: String,
    },
    /// (internal) Pipe stdin/stdout to a TCP address (QEMU's guestfwd).
    #[command(hide = true, name = "connect-tcp")]
    ConnectTcp {
        /// HOST:PORT.
        addr: String,
    },
    /// (internal) Check that KVM runs a vCPU.
    #[command(hide = true, name = "probe-kvm")]
    ProbeKvm,
}

/// A machine's settings.
#[derive(Debug, Args, Default)]
pub struct Settings {
    /// vCPUs.
    #[arg(long)]
    pub cpus: Option<u32>,
    /// Memory: MiB, or with a unit (2G, 512M).
    #[arg(long)]
    pub memory: Option<String>,
    /// Data disk size: GiB, or with a unit (100G, 1T).
    #[arg(long)]
    pub disk: Option<String>,
    /// A registry mirror on the host, e.g. http://127.0.0.1:5000 (the VM
    /// reaches it as http://10.0.2.100:5000).
    #[arg(long = "registry-mirror")]
    pub registry_mirror: Option<String>,
    /// The VM image directory (vmlinuz, initramfs.img, system.img, manifest.json).
    #[arg(long = "image-dir")]
    pub image_dir: Option<PathBuf>,
    /// CPU virtualisation (QEMU).
    #[arg(long, value_enum)]
    pub accel: Option<AccelArg>,
    /// Guest networking: nat (the default: outbound NAT, the host's DNS,
    /// host.docker.internal) or restricted (only the registry mirror).
    #[arg(long, value_enum)]
    pub network: Option<NetworkArg>,
    /// Share a host folder into the VM (repeatable): HOST[:GUEST][:ro],
    /// GUEST defaulting to HOST's path. Replaces the default (the user's
    /// home); `--mount none` shares nothing.
    #[arg(long = "mount", value_name = "HOST[:GUEST][:ro]")]
    pub mounts: Vec<String>,
}

/// `--accel`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AccelArg {
    /// KVM if it works, else TCG.
    Auto,
    /// KVM only.
    Kvm,
    /// Emulation only.
    Tcg,
}

/// `--network`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum NetworkArg {
    /// Only forwarded services (the registry mirror).
    Restricted,
    /// Outbound NAT, DNS from the host's resolvers, the host's loopback at
    /// host.docker.internal.
    Nat,
}

/// `--shell`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ShellArg {
    /// sh, bash, zsh.
    Sh,
    /// fish.
    Fish,
    /// PowerShell.
    Powershell,
}
