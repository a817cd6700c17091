//! The Dockerfile path of `docker build`, with any text: the `# escape=`
//! directive, `parse-dockerfile` and our mapping of its output to typed
//! instructions (continuations, heredocs, flags), then what the builder
//! does with each instruction before it touches an image: variable
//! substitution (`$V`, `${V:-d}`, `${V:+a}`, quotes, the escape
//! character), word splitting, `ENV`/`LABEL` key-values, `ARG`s, heredoc
//! bodies, `COPY` destinations, and the metadata steps applied to a config
//! (as `docker commit --change` does with the text's lines too).
//!
//! Invariants: no panic; a word without `$`, quotes or the escape character
//! expands to itself; a `COPY` destination is made absolute and clean.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Map;
use skiff_engine::build::copy::absolute_dest;
use skiff_engine::build::metadata::{self, Meta};
use skiff_engine::build::parse::{Command, Dockerfile, Health, Step, escape_char};
use skiff_engine::build::vars;

/// The variables every expansion sees: set, set empty, with a blank.
fn look(k: &str) -> Option<String> {
    match k {
        "A" => Some("a".into()),
        "EMPTY" => Some(String::new()),
        "SP" => Some("x y".into()),
        "DOLLAR" => Some("$A".into()),
        _ => None,
    }
}

/// Expand `word`; a word with nothing to expand or unquote is unchanged.
fn word(w: &str, escape: char) {
    let out = vars::process_word(w, &look, escape);
    if !w.contains(['$', '\'', '"', escape]) {
        assert_eq!(out.ok().as_deref(), Some(w), "a plain word changed");
    }
}

/// The argv a command runs as: an exec form as written, a shell form as
/// the shell's last argument.
fn command(c: &Command, shell: &[String]) {
    let argv = metadata::argv(c, shell);
    match c {
        Command::Exec(v) => assert_eq!(&argv, v),
        Command::Shell(s) => assert_eq!(argv.last(), Some(s)),
    }
}

fn step(s: &Step, escape: char) {
    let shell = metadata::default_shell();
    match s {
        Step::Run(c) | Step::Cmd(c) | Step::Entrypoint(c) => command(c, &shell),
        Step::Healthcheck(Health::Cmd(flags, c)) => {
            for (_, v) in flags {
                let _ = metadata::go_duration(v);
            }
            command(c, &shell);
        }
        Step::Copy(spec) => {
            for src in &spec.srcs {
                word(src, escape);
            }
            if let Ok(dest) = vars::process_word(&spec.dest, &look, escape) {
                for workdir in ["", "/", "/work", "rel"] {
                    let abs = absolute_dest(&dest, workdir);
                    assert!(abs.starts_with('/'), "{dest:?} in {workdir:?} -> {abs:?}");
                    assert!(
                        !abs.split('/').any(|c| c == ".." || c == "."),
                        "{dest:?} in {workdir:?} -> {abs:?} is not clean"
                    );
                }
            }
            for f in &spec.inline {
                if f.expand {
                    let _ = vars::process_heredoc(&f.content, &look);
                }
            }
        }
        Step::Arg(raw) => {
            for w in vars::split_words(raw, escape) {
                if let Some((_, v)) = w.split_once('=') {
                    let _ = vars::process_word(v, &look, escape);
                }
            }
        }
        Step::From { image, .. } => word(image, escape),
        Step::Expose(words) | Step::Volume(words) => {
            for w in words {
                word(w, escape);
            }
        }
        Step::Workdir(w) | Step::User(w) | Step::Stopsignal(w) => word(w, escape),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let escape = escape_char(text);
    for line in text.lines().take(32) {
        for w in vars::split_words(line, escape) {
            word(&w, escape);
        }
        let _ = vars::key_values("ENV", line, &look, escape);
        let _ = vars::process_heredoc(line, &look);
    }
    let changes: Vec<String> = text.lines().take(16).map(str::to_owned).collect();
    let _ = metadata::apply_changes(&mut Map::new(), &changes);
    let Ok(df) = Dockerfile::parse(text) else {
        return;
    };
    for i in &df.global_args {
        step(&i.step, escape);
    }
    for stage in &df.stages {
        step(&stage.from.step, escape);
        let (mut runtime, mut author, mut cmd_set) = (Map::new(), None, false);
        for i in &stage.instructions {
            step(&i.step, escape);
            let mut meta = Meta {
                runtime: &mut runtime,
                author: &mut author,
                cmd_set: &mut cmd_set,
            };
            let _ = metadata::apply(&i.step, &mut meta, &look, escape);
        }
    }
});
