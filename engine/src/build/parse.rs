//! Dockerfile text → typed stages and instructions.
//!
//! The syntax (directives, escape character, line continuations, comments,
//! heredocs, JSON and shell forms, flags) is `parse-dockerfile`'s, a
//! maintained parser that covers every instruction (chosen over
//! `dockerfile-parser`, which lacks heredocs and the escape directive).
//! This module only maps its tree to [`Instruction`]s the builder runs and
//! keeps each instruction's original text for `Step n/m : …`. Variables
//! are not substituted here: that happens at dispatch, with the build's
//! arguments and environment at that point ([`super::vars`]).

use parse_dockerfile::{self as pd, Command as PdCommand, Instruction as Pd};

use super::error::BuildError;

/// A command in shell form (run by the `SHELL`) or exec form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `RUN echo hi`.
    Shell(String),
    /// `RUN ["echo", "hi"]`.
    Exec(Vec<String>),
}

/// `COPY` / `ADD`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopySpec {
    /// `ADD` (extracts local tars) rather than `COPY`.
    pub add: bool,
    /// Sources (context paths or globs; for `--from`, paths in the stage).
    pub srcs: Vec<String>,
    /// Destination (relative to `WORKDIR`).
    pub dest: String,
    /// `--from=<stage|image>`.
    pub from: Option<String>,
    /// `--chown=user[:group]`.
    pub chown: Option<String>,
    /// `--chmod=0755`.
    pub chmod: Option<String>,
    /// Heredoc sources (`COPY <<EOF /path`), after the path sources.
    pub inline: Vec<InlineFile>,
}

/// A heredoc source of `COPY`/`ADD`: a file named for its delimiter, as
/// BuildKit writes it (mode 0644 unless `--chmod`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InlineFile {
    /// The file's name: the delimiter (`EOF`).
    pub name: String,
    /// The body, every line with its newline (`<<-`: leading tabs removed).
    pub content: String,
    /// Whether `$VAR`s in the body are expanded (an unquoted delimiter).
    pub expand: bool,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// `HEALTHCHECK NONE`.
    None,
    /// `HEALTHCHECK [--interval=…] CMD …`: the flags (name, value) and command.
    Cmd(Vec<(String, String)>, Command),
}

/// One instruction, typed; word lists are still to be substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `FROM image [AS name]` (`--platform`).
    From {
        /// The image (or stage) name.
        image: String,
        /// `AS name`.
        name: Option<String>,
        /// `--platform`.
        platform: Option<String>,
    },
    /// `RUN`.
    Run(Command),
    /// `COPY` / `ADD`.
    Copy(CopySpec),
    /// `ENV k=v …` (raw arguments).
    Env(String),
    /// `ARG k[=v]` (raw arguments).
    Arg(String),
    /// `LABEL k=v …` (raw arguments).
    Label(String),
    /// `EXPOSE` ports.
    Expose(Vec<String>),
    /// `VOLUME` paths.
    Volume(Vec<String>),
    /// `WORKDIR`.
    Workdir(String),
    /// `USER`.
    User(String),
    /// `ENTRYPOINT`.
    Entrypoint(Command),
    /// `CMD`.
    Cmd(Command),
    /// `HEALTHCHECK`.
    Healthcheck(Health),
    /// `STOPSIGNAL`.
    Stopsignal(String),
    /// `ONBUILD <instruction>`: the trigger's text, recorded as is.
    Onbuild(String),
    /// `MAINTAINER`.
    Maintainer(String),
    /// `SHELL ["…"]`.
    Shell(Vec<String>),
}

/// An instruction with its original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// As written, continuations joined (`Step n/m : <original>`).
    pub original: String,
    /// What it does.
    pub step: Step,
}

/// One `FROM` and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The `FROM`.
    pub from: Instruction,
    /// `AS` name, lowercased as docker compares stage names.
    pub name: Option<String>,
    /// The instructions after it.
    pub instructions: Vec<Instruction>,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// `ARG`s before the first `FROM`.
    pub global_args: Vec<Instruction>,
    /// The stages, in order.
    pub stages: Vec<Stage>,
}

impl Dockerfile {
    /// Parse `text`.
    pub fn parse(text: &str) -> Result<Self, BuildError> {
        let escape = escape_char(text);
        let df = pd::parse(text)
            .map_err(|e| BuildError::InvalidArgument(format!("dockerfile parse error: {e}")))?;
        let global_args = df
            .global_args()
            .map(|a| Instruction {
                original: original(text, a.arg.span.start, a.arguments.span.end),
                step: Step::Arg(a.arguments.value.to_string()),
            })
            .collect();
        let mut stages = Vec::new();
        for stage in df.stages() {
            let from = stage.from;
            let end = from
                .as_
                .as_ref()
                .map(|(_, n)| n.span.end)
                .unwrap_or(from.image.span.end);
            let name = from.as_.as_ref().map(|(_, n)| n.value.to_lowercase());
            let from_instr = Instruction {
                original: original(text, from.from.span.start, end),
                step: Step::From {
                    image: from.image.value.to_string(),
                    name: name.clone(),
                    platform: flag(&from.options, "platform"),
                },
            };
            let mut instructions = Vec::new();
            for i in stage.instructions {
                instructions.push(map(text, escape, i)?);
            }
            stages.push(Stage {
                from: from_instr,
                name,
                instructions,
            });
        }
        Ok(Self {
            global_args,
            stages,
        })
    }
}

/// The source text from `start` to `end`, continuation lines joined as
/// docker prints them.
fn original(text: &str, start: usize, end: usize) -> String {
    let raw = text.get(start..end).unwrap_or_default();
    let mut out = String::new();
    for line in raw.lines() {
        let l = line.trim_end();
        let (l, cont) = match l.strip_suffix('\\') {
            Some(l) => (l, true),
            None => (l, false),
        };
        let t = l.trim_start();
        if t.starts_with('#') {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(if out.is_empty() { l } else { t });
        if !cont {
            break;
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn flag(flags: &[pd::Flag<'_>], name: &str) -> Option<String> {
    flags.iter().find(|f| f.name.value == name).map(|f| {
        f.value
            .as_ref()
            .map(|v| v.value.to_string())
            .unwrap_or_default()
    })
}

fn command(c: &PdCommand<'_>, escape: char) -> Command {
    match c {
        PdCommand::Exec(v) => Command::Exec(v.value.iter().map(|s| s.value.to_string()).collect()),
        PdCommand::Shell(s) => Command::Shell(join_continuations(s.value, escape)),
        _ => Command::Exec(vec![]),
    }
}

/// The delimiter of a heredoc whose body ends at `body_end`: the line
/// after the body (leading tabs of a `<<-` heredoc skipped).
fn heredoc_name(text: &str, body_end: usize) -> String {
    let rest = text.get(body_end..).unwrap_or_default();
    let line = rest.split('\n').next().unwrap_or_default();
    line.trim_start_matches('\t')
        .trim_end_matches('\r')
        .to_owned()
}

/// `RUN <<EOF …` as BuildKit (Dockerfile frontend 1.4) runs it: a heredoc
/// that is the whole command runs its body with the `SHELL`; with more on
/// the line (`RUN <<EOF bash`, `RUN <<EOF > /file`) the line, the body and
/// the delimiter go to the `SHELL` together, which reads the heredoc
/// itself. `cmdline` is the line after `RUN`, `body` the heredoc's text.
/// A body starting with `#!` (which BuildKit runs as a file of its own) is
/// refused: this builder mounts no such file.
fn heredoc_run(cmdline: &str, rest: &str, body: &str, name: &str) -> Result<Command, BuildError> {
    if rest.trim().is_empty() {
        if body.starts_with("#!") {
            return Err(BuildError::InvalidArgument(
                "dockerfile parse error: RUN with a heredoc starting with #! (run as a script file by BuildKit) is not supported by this builder: put the interpreter on the RUN line (RUN <<EOF python3)".into(),
            ));
        }
        return Ok(Command::Shell(body.to_owned()));
    }
    Ok(Command::Shell(format!("{cmdline}\n{body}{name}")))
}

/// A shell-form command as dockerd's parser leaves it: each line
/// continuation (the escape character, blanks, the newline) removed and
/// the lines joined as they are; comment and empty lines inside the
/// continuation dropped.
fn join_continuations(raw: &str, escape: char) -> String {
    let mut out = String::new();
    let mut lines = raw.split('\n').peekable();
    let mut first = true;
    while let Some(line) = lines.next() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if !first && (line.trim().is_empty() || line.trim_start().starts_with('#')) {
            continue;
        }
        first = false;
        let body = line.trim_end_matches([' ', '\t']);
        match body.strip_suffix(escape) {
            Some(head) if lines.peek().is_some() => out.push_str(head),
            _ => {
                out.push_str(line);
                if lines.peek().is_some() {
                    out.push('\n');
                }
            }
        }
    }
    out
}

/// The `# escape=` directive's character (default `\`).
pub fn escape_char(text: &str) -> char {
    for line in text.lines() {
        let l = line.trim();
        let Some(d) = l.strip_prefix('#') else { break };
        if let Some((k, v)) = d.split_once('=') {
            if k.trim().eq_ignore_ascii_case("escape") {
                return v.trim().chars().next().unwrap_or('\\');
            }
        }
    }
    '\\'
}

fn strings<const N: usize>(a: &pd::JsonOrStringArray<'_, N>) -> Vec<String> {
    match a {
        pd::JsonOrStringArray::Json(v) => v.value.iter().map(|s| s.value.to_string()).collect(),
        pd::JsonOrStringArray::String(v) => v.iter().map(|s| s.value.to_string()).collect(),
    }
}

fn unsupported_flags(
    what: &str,
    flags: &[pd::Flag<'_>],
    allowed: &[&str],
) -> Result<(), BuildError> {
    for f in flags {
        if !allowed.contains(&f.name.value.as_ref()) {
            return Err(BuildError::InvalidArgument(format!(
                "dockerfile parse error: unknown flag: {} (the legacy builder's {what} does not support it)",
                f.name.value
            )));
        }
    }
    Ok(())
}

fn copy_spec(
    text: &str,
    add: bool,
    options: &[pd::Flag<'_>],
    src: &[pd::Source<'_>],
    dest: &pd::UnescapedString<'_>,
) -> Result<CopySpec, BuildError> {
    unsupported_flags(
        if add { "ADD" } else { "COPY" },
        options,
        &["from", "chown", "chmod"],
    )?;
    let mut spec = CopySpec {
        add,
        dest: dest.value.to_string(),
        from: flag(options, "from"),
        chown: flag(options, "chown"),
        chmod: flag(options, "chmod"),
        ..CopySpec::default()
    };
    for s in src {
        match s {
            pd::Source::Path(p) => spec.srcs.push(p.value.to_string()),
            pd::Source::HereDoc(h) => spec.inline.push(InlineFile {
                name: heredoc_name(text, h.span.end),
                content: h.value.to_string(),
                expand: h.expand,
            }),
            _ => {
                return Err(BuildError::InvalidArgument(
                    "dockerfile parse error: unknown COPY source".into(),
                ));
            }
        }
    }
    Ok(spec)
}

/// Map one parsed instruction.
fn map(text: &str, escape: char, i: &Pd<'_>) -> Result<Instruction, BuildError> {
    let (start, end, step) = match i {
        Pd::Add(a) => (
            a.add.span.start,
            a.dest.span.end,
            Step::Copy(copy_spec(text, true, &a.options, &a.src, &a.dest)?),
        ),
        Pd::Copy(c) => (
            c.copy.span.start,
            c.dest.span.end,
            Step::Copy(copy_spec(text, false, &c.options, &c.src, &c.dest)?),
        ),
        Pd::Arg(a) => (
            a.arg.span.start,
            a.arguments.span.end,
            Step::Arg(a.arguments.value.to_string()),
        ),
        Pd::Cmd(c) => (
            c.cmd.span.start,
            cmd_end(&c.arguments),
            Step::Cmd(command(&c.arguments, escape)),
        ),
        Pd::Entrypoint(c) => (
            c.entrypoint.span.start,
            cmd_end(&c.arguments),
            Step::Entrypoint(command(&c.arguments, escape)),
        ),
        Pd::Env(e) => (
            e.env.span.start,
            e.arguments.span.end,
            Step::Env(e.arguments.value.to_string()),
        ),
        Pd::Expose(e) => (
            e.expose.span.start,
            e.arguments
                .last()
                .map(|a| a.span.end)
                .unwrap_or(e.expose.span.end),
            Step::Expose(e.arguments.iter().map(|a| a.value.to_string()).collect()),
        ),
        Pd::From(_) => {
            return Err(BuildError::InvalidArgument(
                "dockerfile parse error: unexpected FROM".into(),
            ));
        }
        Pd::Healthcheck(h) => {
            let (end, health) = match &h.arguments {
                pd::HealthcheckArguments::None { none, .. } => (none.span.end, Health::None),
                pd::HealthcheckArguments::Cmd { arguments, .. } => {
                    unsupported_flags(
                        "HEALTHCHECK",
                        &h.options,
                        &[
                            "interval",
                            "timeout",
                            "start-period",
                            "start-interval",
                            "retries",
                        ],
                    )?;
                    let flags = h
                        .options
                        .iter()
                        .map(|f| {
                            (
                                f.name.value.to_string(),
                                f.value
                                    .as_ref()
                                    .map(|v| v.value.to_string())
                                    .unwrap_or_default(),
                            )
                        })
                        .collect();
                    (
                        cmd_end(arguments),
                        Health::Cmd(flags, command(arguments, escape)),
                    )
                }
                _ => {
                    return Err(BuildError::InvalidArgument(
                        "dockerfile parse error: unknown HEALTHCHECK form".into(),
                    ));
                }
            };
            (h.healthcheck.span.start, end, Step::Healthcheck(health))
        }
        Pd::Label(l) => (
            l.label.span.start,
            l.arguments.span.end,
            Step::Label(l.arguments.value.to_string()),
        ),
        Pd::Maintainer(m) => (
            m.maintainer.span.start,
            m.name.span.end,
            Step::Maintainer(m.name.value.to_string()),
        ),
        Pd::Onbuild(o) => {
            let inner = map(text, escape, &o.instruction)?;
            let start = o.onbuild.span.start;
            let end = start
                + text
                    .get(start..)
                    .map(|t| t.find('\n').unwrap_or(t.len()))
                    .unwrap_or(0);
            (start, end.max(start), Step::Onbuild(inner.original))
        }
        Pd::Run(r) => {
            unsupported_flags("RUN", &r.options, &[])?;
            let end = cmd_end(&r.arguments);
            let step = match (r.here_docs.as_slice(), &r.arguments) {
                ([], _) => Step::Run(command(&r.arguments, escape)),
                ([h], PdCommand::Shell(rest)) => {
                    let cmdline = text.get(r.run.span.end..end).unwrap_or_default().trim();
                    let name = heredoc_name(text, h.span.end);
                    Step::Run(heredoc_run(cmdline, rest.value, &h.value, &name)?)
                }
                _ => {
                    return Err(BuildError::InvalidArgument(
                        "dockerfile parse error: RUN with several heredocs is not supported by this builder".into(),
                    ));
                }
            };
            (r.run.span.start, end, step)
        }
        Pd::Shell(s) => (
            s.shell.span.start,
            s.arguments
                .last()
                .map(|a| a.span.end + 1)
                .unwrap_or(s.shell.span.end),
            Step::Shell(s.arguments.iter().map(|a| a.value.to_string()).collect()),
        ),
        Pd::Stopsignal(s) => (
            s.stopsignal.span.start,
            s.arguments.span.end,
            Step::Stopsignal(s.arguments.value.to_string()),
        ),
        Pd::User(u) => (
            u.user.span.start,
            u.arguments.span.end,
            Step::User(u.arguments.value.to_string()),
        ),
        Pd::Volume(v) => (
            v.volume.span.start,
            match &v.arguments {
                pd::JsonOrStringArray::Json(j) => j.span.end,
                pd::JsonOrStringArray::String(s) => {
                    s.last().map(|a| a.span.end).unwrap_or(v.volume.span.end)
                }
            },
            Step::Volume(strings(&v.arguments)),
        ),
        Pd::Workdir(w) => (
            w.workdir.span.start,
            w.arguments.span.end,
            Step::Workdir(w.arguments.value.to_string()),
        ),
        _ => {
            return Err(BuildError::InvalidArgument(
                "dockerfile parse error: unknown instruction".into(),
            ));
        }
    };
    Ok(Instruction {
        original: original(text, start, end),
        step,
    })
}

fn cmd_end(c: &PdCommand<'_>) -> usize {
    match c {
        PdCommand::Exec(v) => v.span.end,
        PdCommand::Shell(s) => s.span.end,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_every_instruction() {
        let text = r#"# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM ${BASE} AS build
RUN echo one \
    two
RUN ["echo", "exec"]
COPY --chown=1:2 --chmod=0755 a b* /dst/
ADD x.tar /
ENV A=1 B="two words"
ARG V
LABEL k=v
EXPOSE 80 53/udp
VOLUME ["/data"]
WORKDIR /w
USER nobody
ENTRYPOINT ["sh"]
CMD echo hi
HEALTHCHECK --interval=5s CMD true
STOPSIGNAL SIGTERM
ONBUILD RUN echo triggered
MAINTAINER me
SHELL ["/bin/sh", "-c"]
FROM scratch
COPY --from=build /w /
"#;
        let df = Dockerfile::parse(text).expect("parse");
        assert_eq!(df.global_args.len(), 1);
        assert_eq!(df.stages.len(), 2);
        let s = &df.stages[0];
        assert_eq!(s.name.as_deref(), Some("build"));
        assert_eq!(s.from.original, "FROM ${BASE} AS build");
        let steps: Vec<&Step> = s.instructions.iter().map(|i| &i.step).collect();
        assert!(matches!(steps[0], Step::Run(Command::Shell(c)) if c.starts_with("echo one")));
        assert_eq!(s.instructions[0].original, "RUN echo one two");
        assert_eq!(
            steps[1],
            &Step::Run(Command::Exec(vec!["echo".into(), "exec".into()]))
        );
        match steps[2] {
            Step::Copy(c) => {
                assert!(!c.add);
                assert_eq!(c.srcs, ["a", "b*"]);
                assert_eq!(c.dest, "/dst/");
                assert_eq!(c.chown.as_deref(), Some("1:2"));
                assert_eq!(c.chmod.as_deref(), Some("0755"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(steps[3], Step::Copy(c) if c.add));
        assert_eq!(steps[4], &Step::Env(r#"A=1 B="two words""#.into()));
        assert_eq!(steps[7], &Step::Expose(vec!["80".into(), "53/udp".into()]));
        assert_eq!(steps[8], &Step::Volume(vec!["/data".into()]));
        assert_eq!(
            steps[11],
            &Step::Entrypoint(Command::Exec(vec!["sh".into()]))
        );
        assert_eq!(steps[12], &Step::Cmd(Command::Shell("echo hi".into())));
        assert!(matches!(steps[13], Step::Healthcheck(Health::Cmd(f, _)) if f[0].0 == "interval"));
        assert_eq!(steps[15], &Step::Onbuild("RUN echo triggered".into()));
        assert_eq!(steps[17], &Step::Shell(vec!["/bin/sh".into(), "-c".into()]));
        match &df.stages[1].instructions[0].step {
            Step::Copy(c) => assert_eq!(c.from.as_deref(), Some("build")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_what_the_legacy_builder_does_not_run() {
        assert!(
            Dockerfile::parse("FROM busybox\nRUN --mount=type=cache,target=/x true\n").is_err()
        );
        assert!(Dockerfile::parse("RUN true\n").is_err());
        let df = Dockerfile::parse(
            "FROM b\nRUN a \\\n  # note\n\n && b \\  \n c\nRUN x\nRUN printf 'a\\\\n'\n",
        )
        .expect("parse");
        let runs: Vec<_> = df.stages[0]
            .instructions
            .iter()
            .map(|i| i.step.clone())
            .collect();
        assert_eq!(runs[0], Step::Run(Command::Shell("a  && b  c".into())));
        assert_eq!(runs[2], Step::Run(Command::Shell("printf 'a\\\\n'".into())));
    }

    #[test]
    fn heredocs_as_buildkit() {
        let df = Dockerfile::parse(concat!(
            "FROM b\n",
            "RUN <<EOF\necho one\necho two\nEOF\n",
            "RUN <<-EOT bash\n\techo $0\n\tEOT\n",
            "COPY <<A <<'B' /dir/\n$X\nA\n$Y\nB\n",
            "COPY --chmod=0755 <<EOF /run.sh\n#!/bin/sh\nEOF\n",
            "RUN echo after\n",
        ))
        .expect("parse");
        let steps: Vec<_> = df.stages[0].instructions.iter().map(|i| &i.step).collect();
        assert_eq!(
            steps[0],
            &Step::Run(Command::Shell("echo one\necho two\n".into()))
        );
        assert_eq!(
            steps[1],
            &Step::Run(Command::Shell("<<-EOT bash\necho $0\nEOT".into()))
        );
        match steps[2] {
            Step::Copy(c) => {
                assert!(c.srcs.is_empty());
                assert_eq!(c.dest, "/dir/");
                let got: Vec<_> = c
                    .inline
                    .iter()
                    .map(|f| (f.name.as_str(), f.content.as_str(), f.expand))
                    .collect();
                assert_eq!(got, [("A", "$X\n", true), ("B", "$Y\n", false)]);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(steps[3], Step::Copy(c) if c.inline[0].name == "EOF" && c.chmod.as_deref() == Some("0755"))
        );
        assert_eq!(steps[4], &Step::Run(Command::Shell("echo after".into())));
        let err = Dockerfile::parse("FROM b\nRUN <<EOF\n#!/usr/bin/env python3\nEOF\n")
            .expect_err("shebang")
            .to_string();
        assert!(err.contains("starting with #!"), "{err}");
    }
}
