//! Running a Dockerfile: the stages up to the target in order (as the
//! legacy builder does), each instruction a step that records an image on
//! top of the previous one, looked up in the cache first.
//!
//! Arguments: `ARG`s before the first `FROM` are usable in `FROM` lines;
//! in a stage an `ARG` declares a variable (its value from `buildargs`,
//! else its default, else the global one); declared arguments are in the
//! environment of `RUN`s and in their history text (`|1 A=b /bin/sh -c …`,
//! so a different value misses the cache), never in the image's `Env`.
//! The proxy arguments (`HTTP_PROXY`, …) are usable undeclared.

use std::collections::BTreeSet;
use std::io::{Read, Seek};
use std::sync::Arc;

use serde_json::{Map, Value};
use skiff_oci::Digest;
use skiff_oci::documents::{History, ImageConfig};

use super::context::Context;
use super::copy::{self, Owner};
use super::error::BuildError;
use super::from::Base;
use super::metadata::{self, Meta};
use super::parse::{Dockerfile, Instruction, Step, escape_char};
use super::run::RunStep;
use super::{BuildEvent, BuildRequest, BuildService, Progress, cache, vars};
use crate::images::compose::NewImage;
use crate::images::now_rfc3339;

/// Arguments usable without an `ARG`.
const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The state of the stage being built.
#[derive(Debug)]
struct StageState {
    image: Option<Digest>,
    config: ImageConfig,
    runtime: Map<String, Value>,
    cmd_set: bool,
    /// Declared arguments and their values, in declaration order.
    args: Vec<(String, Option<String>)>,
}

impl StageState {
    fn new(base: Base) -> Self {
        let runtime = match &base.config.config {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        Self {
            image: base.image,
            config: base.config,
            runtime,
            cmd_set: false,
            args: Vec::new(),
        }
    }
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct Built {
    /// The final image.
    pub id: Digest,
}

/// A step's outcome before it is recorded.
struct Pending {
    layer: Option<std::fs::File>,
    created_by: String,
    empty_layer: bool,
}

impl BuildService {
    /// Build `req` from the context `body` (a tar); events go to
    /// `progress`. The context is extracted in a scratch directory removed
    /// when the build ends.
    ///
    /// The build's result (its last event) is not held up by the cleanup:
    /// the context (up to [`super::spool::MEMORY_LIMIT`] bytes in memory)
    /// is freed and the scratch directory removed on a blocking thread
    /// after this returns (what a crash leaves there is swept at start,
    /// [`BuildService::open`]).
    pub async fn build(
        &self,
        req: BuildRequest,
        body: impl Read + Send + 'static,
        progress: &Progress,
    ) -> Result<Built, BuildError> {
        let dir = self.scratch_dir()?;
        let mut held = None;
        let result = self.build_in(req, body, progress, &dir, &mut held).await;
        tokio::task::spawn_blocking(move || drop((held, dir)));
        result
    }

    /// [`BuildService::build`] in scratch directory `dir`; the context,
    /// once received, is kept in `held` for the caller to free.
    async fn build_in(
        &self,
        req: BuildRequest,
        body: impl Read + Send + 'static,
        progress: &Progress,
        dir: &tempfile::TempDir,
        held: &mut Option<Arc<Context>>,
    ) -> Result<Built, BuildError> {
        let ctx_dir = dir.path().join("context");
        std::fs::create_dir(&ctx_dir)
            .map_err(|e| BuildError::io("creating the context directory", e))?;
        let (scratch, name) = (dir.path().to_owned(), req.dockerfile.clone());
        let (ctx, text) = tokio::task::spawn_blocking(move || {
            let mut ctx = Context::receive(body, &ctx_dir, &scratch, name.as_deref())?;
            let text = ctx.dockerfile(name.as_deref())?;
            ctx.drop_ignored_build_files(name.as_deref());
            Ok::<_, BuildError>((Arc::new(ctx), text))
        })
        .await??;
        *held = Some(ctx.clone());
        let mut df = Dockerfile::parse(&text)?;
        let escape = escape_char(&text);
        if !req.labels.is_empty() {
            let line = req
                .labels
                .iter()
                .map(|(k, v)| format!("{}={}", quote(k), quote(v)))
                .collect::<Vec<_>>()
                .join(" ");
            if let Some(last) = df.stages.last_mut() {
                last.instructions.push(Instruction {
                    original: format!("LABEL {line}"),
                    step: Step::Label(line),
                });
            }
        }
        let last = match &req.target {
            Some(t) if !t.is_empty() => df
                .stages
                .iter()
                .position(|s| s.name.as_deref() == Some(t.to_lowercase().as_str()))
                .ok_or_else(|| {
                    BuildError::InvalidArgument(format!(
                        "failed to reach build target {t} in Dockerfile"
                    ))
                })?,
            _ => df.stages.len().saturating_sub(1),
        };
        let stages = &df.stages[..=last];
        let total = df.global_args.len()
            + stages
                .iter()
                .map(|s| s.instructions.len() + 1)
                .sum::<usize>();
        let mut n = 0;
        let mut used: BTreeSet<String> = BTreeSet::new();
        // Global arguments.
        let mut globals: Vec<(String, Option<String>)> = Vec::new();
        for a in &df.global_args {
            n += 1;
            progress.say(format!("Step {n}/{total} : {}\n", a.original));
            if let Step::Arg(raw) = &a.step {
                let g = globals.clone();
                let look = move |k: &str| {
                    g.iter()
                        .rev()
                        .find(|(n, _)| n == k)
                        .and_then(|(_, v)| v.clone())
                };
                for (k, v) in parse_args(raw, &look, escape)? {
                    let value = req.build_args.get(&k).cloned().flatten().or(v);
                    used.insert(k.clone());
                    globals.push((k, value));
                }
            }
        }
        let mut built: Vec<(Option<String>, Base)> = Vec::new();
        for stage in stages {
            progress.check()?;
            n += 1;
            progress.say(format!("Step {n}/{total} : {}\n", stage.from.original));
            let Step::From {
                image, platform, ..
            } = &stage.from.step
            else {
                continue;
            };
            let g = globals.clone();
            let look = move |k: &str| {
                g.iter()
                    .rev()
                    .find(|(n, _)| n == k)
                    .and_then(|(_, v)| v.clone())
            };
            let image = vars::process_word(image, &look, escape)?;
            let base = self
                .base(
                    &image,
                    platform.as_deref(),
                    &built,
                    req.pull,
                    &req.registry_auth,
                    progress,
                )
                .await?;
            if let Some(id) = &base.image {
                progress.say(format!(" ---> {}\n", &id.hex()[..12]));
            }
            let mut st = StageState::new(base);
            self.triggers(
                &mut st,
                &ctx,
                &req,
                &globals,
                escape,
                progress,
                dir.path(),
                &built,
            )
            .await?;
            for instr in &stage.instructions {
                progress.check()?;
                n += 1;
                progress.say(format!("Step {n}/{total} : {}\n", instr.original));
                self.step(
                    &mut st,
                    instr,
                    &ctx,
                    &req,
                    &globals,
                    &mut used,
                    escape,
                    progress,
                    dir.path(),
                    &built,
                )
                .await?;
            }
            built.push((
                stage.name.clone(),
                Base {
                    image: st.image.clone(),
                    config: st.config.clone(),
                },
            ));
        }
        let Some((
            _,
            Base {
                image: Some(id), ..
            },
        )) = built.last().cloned()
        else {
            return Err(BuildError::InvalidArgument(
                "No image was generated. Is your Dockerfile empty?".into(),
            ));
        };
        let unused: Vec<&String> = req
            .build_args
            .keys()
            .filter(|k| !used.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
            .collect();
        if !unused.is_empty() {
            let list: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
            progress.say(format!(
                "[Warning] One or more build-args [{}] were not consumed\n",
                list.join(" ")
            ));
        }
        progress.send(BuildEvent::Aux(id.clone()));
        progress.say(format!("Successfully built {}\n", &id.hex()[..12]));
        skiff_failpoint::point!(skiff_failpoint::BUILD_BEFORE_TAG);
        for t in &req.tags {
            let images = self.images.clone();
            let (t2, id2) = (t.clone(), id.to_string());
            tokio::task::spawn_blocking(move || images.tag(&id2, &t2, None)).await??;
            let familiar = skiff_oci::reference::Reference::parse(t)
                .map(|r| r.with_default_tag().familiar())
                .unwrap_or_else(|_| t.clone());
            progress.say(format!("Successfully tagged {familiar}\n"));
        }
        Ok(Built { id })
    }

    /// Run the `ONBUILD` triggers of the stage's base image, then clear them.
    #[allow(clippy::too_many_arguments)]
    async fn triggers(
        &self,
        st: &mut StageState,
        ctx: &Arc<Context>,
        req: &BuildRequest,
        globals: &[(String, Option<String>)],
        escape: char,
        progress: &Progress,
        scratch: &std::path::Path,
        built: &[(Option<String>, Base)],
    ) -> Result<(), BuildError> {
        let triggers: Vec<String> = st
            .runtime
            .get("OnBuild")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        if triggers.is_empty() {
            return Ok(());
        }
        st.runtime.remove("OnBuild");
        progress.say(format!("# Executing {} build trigger", triggers.len()));
        progress.say(if triggers.len() == 1 { "\n" } else { "s\n" });
        let mut used = BTreeSet::new();
        for t in triggers {
            let df = Dockerfile::parse(&format!("FROM scratch\n{t}\n"))?;
            for instr in df.stages.iter().flat_map(|s| &s.instructions) {
                self.step(
                    st, instr, ctx, req, globals, &mut used, escape, progress, scratch, built,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// One instruction of a stage.
    #[allow(clippy::too_many_arguments)]
    async fn step(
        &self,
        st: &mut StageState,
        instr: &Instruction,
        ctx: &Arc<Context>,
        req: &BuildRequest,
        globals: &[(String, Option<String>)],
        used: &mut BTreeSet<String>,
        escape: char,
        progress: &Progress,
        scratch: &std::path::Path,
        built: &[(Option<String>, Base)],
    ) -> Result<(), BuildError> {
        let snapshot = (st.runtime.clone(), st.args.clone());
        let look = move |k: &str| {
            metadata::get_env(&snapshot.0, k).or_else(|| {
                snapshot
                    .1
                    .iter()
                    .rev()
                    .find(|(n, _)| n == k)
                    .and_then(|(_, v)| v.clone())
            })
        };
        match &instr.step {
            Step::Run(cmd) => {
                let shell = metadata::shell_of(&st.runtime);
                let argv = metadata::argv(cmd, &shell);
                let mut env: Vec<String> = st
                    .args
                    .iter()
                    .filter(|(k, _)| metadata::get_env(&st.runtime, k).is_none())
                    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
                    .collect();
                let created_by = if env.is_empty() {
                    argv.join(" ")
                } else {
                    format!("|{} {} {}", env.len(), env.join(" "), argv.join(" "))
                };
                for p in PROXY_ARGS {
                    if let Some(Some(v)) = req.build_args.get(p) {
                        env.push(format!("{p}={v}"));
                    }
                }
                let key = cache::key(st.image.as_ref(), &created_by);
                if self.cached(st, &key, req, progress)? {
                    return Ok(());
                }
                let Some(image) = st.image.clone() else {
                    return Err(BuildError::InvalidArgument(
                        "RUN on scratch: the stage has no filesystem to run a command in".into(),
                    ));
                };
                let out = self
                    .run(
                        &RunStep {
                            image: image.to_string(),
                            argv: argv.clone(),
                            env,
                            display: argv.join(" "),
                            keep: !req.rm && !req.force_rm,
                        },
                        progress,
                        scratch,
                    )
                    .await?;
                // The container goes while its layer is recorded.
                let recorded = self
                    .record(
                        st,
                        key,
                        Pending {
                            layer: Some(out.layer),
                            created_by,
                            empty_layer: false,
                        },
                        progress,
                    )
                    .await;
                if let Some(removal) = out.removal {
                    let _ = removal.await;
                }
                recorded
            }
            Step::Copy(spec) => {
                let word = |w: &str| vars::process_word(w, &look, escape);
                let srcs = spec
                    .srcs
                    .iter()
                    .map(|s| word(s))
                    .collect::<Result<Vec<_>, _>>()?;
                let workdir = st
                    .runtime
                    .get("WorkingDir")
                    .and_then(Value::as_str)
                    .unwrap_or("/")
                    .to_owned();
                let dest = copy::absolute_dest(&word(&spec.dest)?, &workdir);
                // Heredoc sources: (name, body with its variables expanded
                // unless the delimiter was quoted).
                let inline = spec
                    .inline
                    .iter()
                    .map(|f| {
                        let body = if f.expand {
                            vars::process_heredoc(&f.content, &look)?
                        } else {
                            f.content.clone()
                        };
                        Ok((f.name.clone(), body))
                    })
                    .collect::<Result<Vec<_>, BuildError>>()?;
                if !inline.is_empty() && spec.from.is_some() {
                    return Err(BuildError::InvalidArgument(
                        "COPY --from with a heredoc source: the heredoc is no file of the stage; COPY it without --from".into(),
                    ));
                }
                let lower = match &st.image {
                    Some(id) => match self.images.record(id) {
                        Some(r) => self.images.lower_dirs(&r),
                        None => Vec::new(),
                    },
                    None => Vec::new(),
                };
                let owner = Owner {
                    ids: match &spec.chown {
                        Some(c) => chown(&word(c)?, &lower)?,
                        None => (0, 0),
                    },
                    chmod: match &spec.chmod {
                        Some(m) => Some(u32::from_str_radix(&word(m)?, 8).map_err(|_| {
                            BuildError::InvalidArgument(format!("invalid chmod parameter: {m}"))
                        })?),
                        None => None,
                    },
                };
                let what = if spec.add { "ADD" } else { "COPY" };
                // As dockerd writes it: `--chown=…` glued to the checksum.
                let chown_text = match &spec.chown {
                    Some(c) => format!("--chown={}", word(c)?),
                    None => String::new(),
                };
                // The shell of the stage and the destination as written.
                let (shell, written) =
                    (metadata::shell_of(&st.runtime).join(" "), word(&spec.dest)?);
                let history =
                    |sum: &str| format!("{shell} #(nop) {what} {chown_text}{sum} in {written} ");
                // From the context, the checksum comes from the entries'
                // sums taken at extraction: a cache hit reads no file.
                let early = match &spec.from {
                    None => {
                        copy::refuse_remote(&srcs, spec.add)?;
                        let extra = format!("{what} {:?} {:?} {inline:?}", owner.ids, owner.chmod);
                        let (c, s) = (ctx.clone(), srcs.clone());
                        let sum =
                            tokio::task::spawn_blocking(move || c.checksum(&s, &extra)).await??;
                        let created_by = history(&sum);
                        let key = cache::key(st.image.as_ref(), &created_by);
                        if self.cached(st, &key, req, progress)? {
                            return Ok(());
                        }
                        Some((created_by, key))
                    }
                    Some(_) => None,
                };
                let file = tempfile::tempfile_in(scratch)
                    .map_err(|e| BuildError::io("creating a layer file", e))?;
                let (mut file, sum) = match &spec.from {
                    None => {
                        let (ctx, add) = (ctx.clone(), spec.add);
                        let (srcs, dest2, lower2) = (srcs.clone(), dest.clone(), lower.clone());
                        tokio::task::spawn_blocking(move || {
                            ctx.materialize()?;
                            copy::from_context(
                                &ctx, &srcs, &inline, &dest2, add, owner, &lower2, file,
                            )
                        })
                        .await??
                    }
                    Some(from) => {
                        let from = word(from)?;
                        self.copy_from_stage(
                            &from,
                            &srcs,
                            &dest,
                            owner,
                            &lower,
                            built,
                            &req.registry_auth,
                            progress,
                            file,
                        )
                        .await?
                    }
                };
                file.rewind()
                    .map_err(|e| BuildError::io("reading a layer file", e))?;
                let (created_by, key) = match early {
                    Some(known) => known,
                    None => {
                        let created_by = history(&sum);
                        let key = cache::key(st.image.as_ref(), &created_by);
                        if self.cached(st, &key, req, progress)? {
                            return Ok(());
                        }
                        (created_by, key)
                    }
                };
                self.record(
                    st,
                    key,
                    Pending {
                        layer: Some(file),
                        created_by,
                        empty_layer: false,
                    },
                    progress,
                )
                .await
            }
            Step::Arg(raw) => {
                let mut comment = String::from("ARG");
                for (k, default) in parse_args(raw, &look, escape)? {
                    let value = req
                        .build_args
                        .get(&k)
                        .cloned()
                        .flatten()
                        .or(default.clone())
                        .or_else(|| {
                            globals
                                .iter()
                                .rev()
                                .find(|(n, _)| *n == k)
                                .and_then(|(_, v)| v.clone())
                        });
                    used.insert(k.clone());
                    comment.push(' ');
                    comment.push_str(&k);
                    // dockerd's history keeps the default as written.
                    if let Some(d) = &default {
                        comment.push('=');
                        comment.push_str(d);
                    }
                    st.args.push((k, value));
                }
                self.metadata_step(st, comment, req, progress).await
            }
            Step::From { .. } => Err(BuildError::InvalidArgument(
                "unexpected FROM inside a stage".into(),
            )),
            other => {
                let mut author = st.config.author.clone();
                let comment = metadata::apply(
                    other,
                    &mut Meta {
                        runtime: &mut st.runtime,
                        author: &mut author,
                        cmd_set: &mut st.cmd_set,
                    },
                    &look,
                    escape,
                )?
                .unwrap_or_default();
                st.config.author = author;
                let layer = match other {
                    Step::Workdir(_) => self.workdir_layer(st, scratch)?,
                    _ => None,
                };
                self.metadata_step_with(st, comment, layer, req, progress)
                    .await
            }
        }
    }

    /// Record a step that changes only the config.
    async fn metadata_step(
        &self,
        st: &mut StageState,
        comment: String,
        req: &BuildRequest,
        progress: &Progress,
    ) -> Result<(), BuildError> {
        self.metadata_step_with(st, comment, None, req, progress)
            .await
    }

    /// As dockerd's `WORKDIR`: a directory the image lacks is created, in
    /// a layer of its own (missing parents too, 0755 root); `None` when it
    /// exists (or on `scratch`).
    fn workdir_layer(
        &self,
        st: &StageState,
        scratch: &std::path::Path,
    ) -> Result<Option<std::fs::File>, BuildError> {
        let Some(id) = &st.image else {
            return Ok(None);
        };
        let rel = st
            .runtime
            .get("WorkingDir")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim_matches('/')
            .to_owned();
        let lower = match self.images.record(id) {
            Some(r) => self.images.lower_dirs(&r),
            None => return Ok(None),
        };
        if rel.is_empty() || lower.iter().any(|l| l.join(&rel).is_dir()) {
            return Ok(None);
        }
        let file = tempfile::tempfile_in(scratch)
            .map_err(|e| BuildError::io("creating a layer file", e))?;
        let mut w = copy::LayerWriter::new(file, Owner::default());
        w.parents(&format!("/{rel}/_"), &lower)?;
        let (mut file, _) = w.finish()?;
        file.rewind()
            .map_err(|e| BuildError::io("reading a layer file", e))?;
        Ok(Some(file))
    }

    /// Record a step that changes the config, and adds `layer` if any.
    async fn metadata_step_with(
        &self,
        st: &mut StageState,
        comment: String,
        layer: Option<std::fs::File>,
        req: &BuildRequest,
        progress: &Progress,
    ) -> Result<(), BuildError> {
        // dockerd commits WORKDIR with its comment in one word
        // (`#(nop) WORKDIR /x`), every other metadata step in two
        // (`#(nop)  ENV …`).
        let shell = metadata::shell_of(&st.runtime).join(" ");
        let created_by = if comment.starts_with("WORKDIR ") {
            format!("{shell} #(nop) {comment}")
        } else {
            format!("{shell} #(nop)  {comment}")
        };
        // The runtime config is part of the key (a metadata step's result
        // depends on it, e.g. ENV with a substituted value).
        let key = cache::key(
            st.image.as_ref(),
            &format!("{created_by}\n{}", Value::Object(st.runtime.clone())),
        );
        if self.cached(st, &key, req, progress)? {
            return Ok(());
        }
        self.record(
            st,
            key,
            Pending {
                empty_layer: layer.is_none(),
                layer,
                created_by,
            },
            progress,
        )
        .await
    }

    /// A cache hit for `key`: the stage moves to the cached image.
    fn cached(
        &self,
        st: &mut StageState,
        key: &str,
        req: &BuildRequest,
        progress: &Progress,
    ) -> Result<bool, BuildError> {
        if req.no_cache {
            return Ok(false);
        }
        let Some(id) = self.cache.get(key) else {
            return Ok(false);
        };
        if self.images.record(&id).is_none() {
            return Ok(false);
        }
        let config = self.images.config_of(&id)?;
        progress.say(" ---> Using cache\n");
        progress.say(format!(" ---> {}\n", &id.hex()[..12]));
        st.runtime = match &config.config {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        st.image = Some(id);
        st.config = config;
        Ok(true)
    }

    /// Record the step's image and remember it in the cache.
    async fn record(
        &self,
        st: &mut StageState,
        key: String,
        pending: Pending,
        progress: &Progress,
    ) -> Result<(), BuildError> {
        let mut config = st.config.clone();
        let now = now_rfc3339();
        config.created = Some(now.clone());
        config.config = Some(Value::Object(st.runtime.clone()));
        config.history.push(History {
            created: Some(now),
            created_by: Some(pending.created_by),
            empty_layer: pending.empty_layer,
            ..Default::default()
        });
        let image = NewImage {
            config,
            parent: st.image.clone(),
            tags: vec![],
        };
        let images = self.images.clone();
        let id = match pending.layer {
            None => tokio::task::spawn_blocking(move || images.create_image(None, image)).await??,
            Some(mut layer) => {
                tokio::task::spawn_blocking(move || images.create_image(Some(&mut layer), image))
                    .await??
            }
        };
        skiff_failpoint::point!(skiff_failpoint::BUILD_BEFORE_CACHE);
        self.cache.insert(key, id.clone())?;
        progress.say(format!(" ---> {}\n", &id.hex()[..12]));
        st.config = self.images.config_of(&id)?;
        st.image = Some(id);
        Ok(())
    }
}

/// `ARG a=1 b` → `[(a, Some(1)), (b, None)]`, defaults substituted.
fn parse_args(
    raw: &str,
    look: vars::Lookup<'_>,
    escape: char,
) -> Result<Vec<(String, Option<String>)>, BuildError> {
    vars::split_words(raw, escape)
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => Ok((k.to_owned(), Some(vars::process_word(v, look, escape)?))),
            None => Ok((w, None)),
        })
        .collect()
}

/// `--chown=user[:group]`, numeric or named in the image's files.
fn chown(spec: &str, lower: &[std::path::PathBuf]) -> Result<(u32, u32), BuildError> {
    let root = lower
        .iter()
        .find(|l| l.join("etc/passwd").exists())
        .cloned()
        .unwrap_or_default();
    let user = crate::containers::user::resolve(&root, spec).map_err(|e| {
        BuildError::InvalidArgument(format!(
            "unable to convert uid/gid chown string to host mapping: {e}"
        ))
    })?;
    Ok((user.uid, user.gid))
}

/// A label key or value quoted for a `LABEL` line.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arg_forms_and_escape_directive() {
        let none = |_: &str| None;
        assert_eq!(
            parse_args("A=1 B", &none, '\\').expect("args"),
            vec![("A".into(), Some("1".into())), ("B".into(), None)]
        );
        assert_eq!(escape_char("# escape=`\nFROM x\n"), '`');
        assert_eq!(escape_char("FROM x\n# escape=`\n"), '\\');
    }
}
