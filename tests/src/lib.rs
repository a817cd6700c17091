//! End-to-end test harness for skiffd.
//!
//! - [`fixtures`]: the offline test images, built once per checkout by
//!   `tests/fixtures/build-images.sh` ([`fixtures::seed()`]).
//! - [`registry`]: a real `docker-registry` per test over a copy of those
//!   images, anonymous, htpasswd or token auth ([`Registry`]).
//! - [`broken_registry`]: a registry whose blobs hang, drip, lie, break
//!   off, redirect in a loop or fail before recovering ([`BrokenRegistry`]).
//! - [`token`]: the in-process token server behind the token-auth registry.
//! - [`skiffd`]: a skiffd per test with its own data root, socket, log and
//!   (by default) its own registry mirror ([`Skiffd`]).
//! - [`docker`]: the real docker CLI against that socket ([`DockerCli`]).
//! - [`dockerd`]: a private Debian dockerd in namespaces of its own, for
//!   differential tests ([`Dockerd`]).
//! - [`client`]: a bollard client.
//! - [`load`]: the load generator (`skiff-load`, `bench/load.sh`).
//! - [`util`]: paths, ports, processes, log tails, tiny HTTP GETs.
//! - [`error`]: [`HarnessError`], what the fallible functions return.
//!
//! ```no_run
//! use skiff_e2e::{Skiffd, SkiffdOpts};
//!
//! let d = Skiffd::start(SkiffdOpts::default());
//! d.docker_ok(&["pull", "busybox"]);
//! let out = d.docker_ok(&["run", "--rm", "busybox", "echo", "hi"]);
//! assert_eq!(out, "hi\n");
//! ```
//!
//! Environment: `SKIFFD_BIN`, `DOCKER_CLI`, `SKIFF_REGISTRY_BIN`,
//! `SKIFF_TEST_TMPDIR`, `SKIFF_FIXTURES_CACHE`, `SKIFF_KEEP_TMP=1`.

#![warn(missing_docs)]

pub mod broken_registry;
pub mod cgroups;
pub mod client;
pub mod docker;
pub mod dockerd;
pub mod error;
pub mod fixtures;
pub mod load;
pub mod netns;
pub mod registry;
pub mod skiffd;
pub mod token;
pub mod util;

pub use broken_registry::{BlobMode, BrokenRegistry};
pub use docker::{CmdOutput, DockerCli};
pub use dockerd::Dockerd;
pub use error::HarnessError;
pub use fixtures::{Fixtures, ImageInfo, MultiarchDigests, seed};
pub use registry::{Registry, RegistryAuth};
pub use skiffd::{Skiffd, SkiffdOpts};
pub use token::{Access, TokenServer};
