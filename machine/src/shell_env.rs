//! `skiff env`: shell code that points the docker CLI at a machine, like
//! `docker-machine env`.

/// The shells `skiff env` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// POSIX shells (sh, bash, zsh).
    Sh,
    /// fish.
    Fish,
    /// PowerShell.
    Powershell,
}

impl Shell {
    /// Parses `sh`/`bash`/`zsh`, `fish`, `powershell`/`pwsh`.
    pub fn parse(name: &str) -> Option<Shell> {
        match name {
            "sh" | "bash" | "zsh" | "dash" | "ksh" => Some(Shell::Sh),
            "fish" => Some(Shell::Fish),
            "powershell" | "pwsh" => Some(Shell::Powershell),
            _ => None,
        }
    }

    /// The user's shell guessed from `$SHELL` (PowerShell on Windows).
    pub fn detect() -> Shell {
        if cfg!(windows) {
            return Shell::Powershell;
        }
        std::env::var("SHELL")
            .ok()
            .and_then(|s| s.rsplit('/').next().and_then(Shell::parse))
            .unwrap_or(Shell::Sh)
    }
}

/// The script setting `DOCKER_HOST` to `host`, with a comment saying how to
/// use it (`command` is how the user ran `skiff env`).
pub fn script(shell: Shell, host: &str, command: &str) -> String {
    match shell {
        Shell::Sh => format!(
            "export DOCKER_HOST=\"{}\"\n# Run this command to configure your shell:\n# eval \"$({command})\"\n",
            host.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('$', "\\$")
                .replace('`', "\\`")
        ),
        Shell::Fish => format!(
            "set -gx DOCKER_HOST \"{}\";\n# Run this command to configure your shell:\n# eval ({command})\n",
            host.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('$', "\\$")
        ),
        Shell::Powershell => format!(
            "$Env:DOCKER_HOST = \"{}\"\n# Run this command to configure your shell:\n# & {command} | Invoke-Expression\n",
            host.replace('`', "``")
                .replace('"', "`\"")
                .replace('$', "`$")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shell() {
        let host = "unix:///home/u/.skiff/machines/default/docker.sock";
        assert_eq!(
            script(Shell::Sh, host, "skiff env"),
            format!(
                "export DOCKER_HOST=\"{host}\"\n# Run this command to configure your shell:\n# eval \"$(skiff env)\"\n"
            )
        );
        assert!(
            script(Shell::Fish, host, "skiff env --shell fish")
                .starts_with(&format!("set -gx DOCKER_HOST \"{host}\";\n"))
        );
        assert!(
            script(Shell::Powershell, host, "skiff env --shell powershell")
                .starts_with(&format!("$Env:DOCKER_HOST = \"{host}\"\n"))
        );
        assert!(
            script(Shell::Sh, "unix:///a$b/\"c", "x")
                .starts_with("export DOCKER_HOST=\"unix:///a\\$b/\\\"c\"\n")
        );
        assert_eq!(Shell::parse("pwsh"), Some(Shell::Powershell));
        assert_eq!(Shell::parse("tcsh"), None);
    }

    #[cfg(unix)]
    #[test]
    fn sh_output_evaluates_in_a_real_shell() {
        let host = "unix:///tmp/a b/docker.sock";
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{}\nprintf %s \"$DOCKER_HOST\"",
                script(Shell::Sh, host, "skiff env")
            ))
            .output()
            .expect("sh");
        assert_eq!(String::from_utf8_lossy(&out.stdout), host);
    }
}
