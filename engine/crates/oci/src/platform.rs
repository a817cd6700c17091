//! Platforms (`os/arch[/variant]`), parsed and normalised like containerd's
//! `platforms` package, and selection of the best index entry for a platform.
//!
//! Normalisation (containerd's `Normalize`): names are lowercased,
//! `macos` → `darwin`, `x86_64`/`x86-64` → `amd64`, `aarch64` → `arm64`,
//! `i386` → `386`, `armhf` → `arm/v7`, `armel` → `arm/v6`; `arm64` without a
//! variant is the same platform as `arm64/v8`, `arm` without a variant the
//! same as `arm/v7`, `amd64/v1` the same as `amd64`.

use std::fmt;
use std::str::FromStr;

use crate::documents::{self, Descriptor, is_manifest};

/// The annotation BuildKit puts on index entries that are not images
/// (attestation manifests, `attestation-manifest`).
pub const REFERENCE_TYPE_ANNOTATION: &str = "vnd.docker.reference.type";

/// Operating systems containerd knows (`isKnownOS`).
const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "windows",
    "zos",
];

/// Architectures containerd knows (`isKnownArch`).
const KNOWN_ARCH: &[&str] = &[
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "ppc64",
    "ppc64le",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
];

/// Why a platform specifier could not be parsed. Messages are containerd's
/// (what docker prints for a bad `--platform`).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    /// The specifier contains `*`.
    #[error("{0:?}: wildcards not yet supported: invalid argument")]
    Wildcard(String),
    /// A component contains characters outside `[A-Za-z0-9_.-]` or is empty.
    #[error(
        "{part:?} is an invalid component of {specifier:?}: platform specifier component must match \"^[A-Za-z0-9_.-]+$\": invalid argument"
    )]
    InvalidComponent {
        /// The offending component.
        part: String,
        /// The whole specifier.
        specifier: String,
    },
    /// A single component that is neither a known OS nor a known architecture.
    #[error("{0:?}: unknown operating system or architecture: invalid argument")]
    Unknown(String),
    /// More than three components.
    #[error("{0:?}: cannot parse platform specifier: invalid argument")]
    TooManyParts(String),
}

/// A platform: operating system, architecture and optional CPU variant.
///
/// Values are stored as parsed (`linux/arm64` and `linux/arm64/v8` display
/// differently) but compare through [`Platform::normalized`], so the derived
/// `PartialEq` is *textual*; use [`Platform::matches`] for semantic equality.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

impl Platform {
    /// A platform from its parts; names are normalised (`aarch64` → `arm64`,
    /// `x86_64` → `amd64`, …) but the variant is kept unless the
    /// normalisation implies one (`armhf` → `arm/v7`).
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        let (architecture, normalised_variant) =
            normalize_arch(architecture, variant.unwrap_or_default());
        // Keep an explicit `v8` on arm64 (normalize_arch drops it) so that
        // e.g. the host displays as `linux/arm64/v8`, like docker.
        let variant = match (architecture.as_str(), variant) {
            ("arm64", Some(v)) if normalised_variant.is_empty() && !v.is_empty() => "v8".to_owned(),
            _ => normalised_variant,
        };
        Self {
            os: normalize_os(os),
            architecture,
            variant: non_empty(variant),
        }
    }

    /// Parse a specifier: `linux/arm64`, `linux/arm64/v8`, `linux`, `arm64`
    /// (a lone OS gets the host architecture, a lone architecture the host
    /// OS), following containerd's `platforms.Parse`.
    pub fn parse(specifier: &str) -> Result<Self, PlatformError> {
        if specifier.contains('*') {
            return Err(PlatformError::Wildcard(specifier.to_owned()));
        }
        let parts: Vec<&str> = specifier.splitn(4, '/').collect();
        for part in &parts {
            if part.is_empty()
                || !part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
            {
                return Err(PlatformError::InvalidComponent {
                    part: (*part).to_owned(),
                    specifier: specifier.to_owned(),
                });
            }
        }
        match parts.as_slice() {
            [single] => {
                let os = normalize_os(single);
                if KNOWN_OS.contains(&os.as_str()) {
                    let host = Self::host();
                    let variant = host
                        .variant
                        .filter(|v| host.architecture == "arm" && v != "v7");
                    return Ok(Self {
                        os,
                        architecture: host.architecture,
                        variant,
                    });
                }
                let (architecture, variant) = normalize_arch(single, "");
                if KNOWN_ARCH.contains(&architecture.as_str()) {
                    return Ok(Self {
                        os: Self::host().os,
                        variant: arm_v7_implied(&architecture, variant),
                        architecture,
                    });
                }
                Err(PlatformError::Unknown(specifier.to_owned()))
            }
            [os, arch] => {
                let (architecture, variant) = normalize_arch(arch, "");
                Ok(Self {
                    os: normalize_os(os),
                    variant: arm_v7_implied(&architecture, variant),
                    architecture,
                })
            }
            [os, arch, variant] => {
                let (architecture, mut variant) = normalize_arch(arch, variant);
                if architecture == "arm64" && variant.is_empty() {
                    variant = "v8".to_owned();
                }
                Ok(Self {
                    os: normalize_os(os),
                    architecture,
                    variant: non_empty(variant),
                })
            }
            _ => Err(PlatformError::TooManyParts(specifier.to_owned())),
        }
    }

    /// The platform skiffd runs on, in OCI names (`linux/amd64`,
    /// `linux/arm64/v8`, `linux/arm/v7`, …), like containerd's `DefaultSpec`.
    pub fn host() -> Self {
        let os = match std::env::consts::OS {
            "macos" => "darwin",
            other => other,
        };
        let little_endian = cfg!(target_endian = "little");
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "powerpc64" if little_endian => ("ppc64le", None),
            "powerpc64" => ("ppc64", None),
            "powerpc" => ("ppc", None),
            "mips" if little_endian => ("mipsle", None),
            "mips64" if little_endian => ("mips64le", None),
            "loongarch64" => ("loong64", None),
            "sparc64" => ("sparc64", None),
            other => (other, None),
        };
        Self {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
        }
    }

    /// A platform from an index entry / config's platform object.
    pub fn from_document(p: &documents::Platform) -> Self {
        Self::new(&p.os, &p.architecture, p.variant.as_deref())
    }

    /// This platform as an index entry's platform object.
    pub fn to_document(&self) -> documents::Platform {
        documents::Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            variant: self.variant.clone(),
            os_version: None,
        }
    }

    /// Operating system (`linux`).
    pub fn os(&self) -> &str {
        &self.os
    }

    /// Architecture (`amd64`, `arm64`).
    pub fn architecture(&self) -> &str {
        &self.architecture
    }

    /// CPU variant (`v8`, `v7`), if any.
    pub fn variant(&self) -> Option<&str> {
        self.variant.as_deref()
    }

    /// containerd's `Normalize`: the canonical form used for comparisons
    /// (`arm64/v8` → `arm64`, `arm` → `arm/v7`, `amd64/v1` → `amd64`).
    #[must_use]
    pub fn normalized(&self) -> Self {
        let (architecture, variant) = normalize_arch(
            &self.architecture,
            self.variant.as_deref().unwrap_or_default(),
        );
        Self {
            os: normalize_os(&self.os),
            architecture,
            variant: non_empty(variant),
        }
    }

    /// Semantic equality: same OS, architecture and variant after
    /// normalisation (`linux/arm64` matches `linux/arm64/v8`).
    pub fn matches(&self, other: &Platform) -> bool {
        self.normalized() == other.normalized()
    }

    /// The platforms this one can run, most preferred first, normalised
    /// (containerd's `Only` matcher): itself, then older variants of the
    /// same architecture, then compatible 32-bit ones (`amd64` → `386`,
    /// `arm64` → `arm/v8`…`arm/v5`, `arm/v7` → `arm/v6`, `arm/v5`).
    pub fn compatible(&self) -> Vec<Platform> {
        let me = self.normalized();
        let with = |architecture: &str, variant: Option<String>| Platform {
            os: me.os.clone(),
            architecture: architecture.to_owned(),
            variant,
        };
        let arm_down_from = |from: u32| {
            (5..=from)
                .rev()
                .map(|v| with("arm", Some(format!("v{v}"))))
                .collect::<Vec<_>>()
        };
        let mut out = vec![me.clone()];
        match me.architecture.as_str() {
            "amd64" => {
                if let Some(level) = variant_major(me.variant.as_deref()).filter(|l| *l > 1) {
                    for l in (1..level).rev() {
                        out.push(with("amd64", (l > 1).then(|| format!("v{l}"))));
                    }
                }
                out.push(with("386", None));
            }
            "arm" => {
                if let Some(level) = variant_major(me.variant.as_deref()).filter(|l| *l > 5) {
                    out.extend(arm_down_from(level - 1));
                }
            }
            "arm64" => {
                // Normalised arm64 has no variant for v8, `v9` otherwise.
                let level = variant_major(me.variant.as_deref()).unwrap_or(8);
                for l in (8..level).rev() {
                    out.push(with("arm64", (l > 8).then(|| format!("v{l}"))));
                }
                out.extend(arm_down_from(8));
            }
            _ => {}
        }
        out
    }

    /// True when an image for `candidate` can run on this platform (it is in
    /// [`Platform::compatible`]).
    pub fn accepts(&self, candidate: &Platform) -> bool {
        let candidate = candidate.normalized();
        self.compatible().contains(&candidate)
    }
}

impl FromStr for Platform {
    type Err = PlatformError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Platform {
    /// `os/arch[/variant]`, as containerd's `platforms.Format`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl From<&documents::Platform> for Platform {
    fn from(p: &documents::Platform) -> Self {
        Self::from_document(p)
    }
}

/// True for index entries that are not runnable images: BuildKit
/// attestations (`vnd.docker.reference.type` annotation) and entries whose
/// platform is `unknown/unknown`.
pub fn is_attestation(d: &Descriptor) -> bool {
    d.annotations.contains_key(REFERENCE_TYPE_ANNOTATION)
        || d.platform
            .as_ref()
            .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
}

/// Pick the index entry to pull for `platform`, docker style.
///
/// Only image manifests ([`is_manifest`] media types) that are not
/// attestations ([`is_attestation`]) are considered. The entry whose platform
/// comes first in `platform.compatible()` wins (an exact match before an
/// older variant before a 32-bit fallback); among equals, the first in index
/// order. Entries without a platform are accepted last, as docker does.
/// `None` means docker's "no matching manifest for `<platform>` in the manifest
/// list entries".
pub fn select<'a>(entries: &'a [Descriptor], platform: &Platform) -> Option<&'a Descriptor> {
    let candidates: Vec<&Descriptor> = entries
        .iter()
        .filter(|d| is_manifest(&d.media_type) && !is_attestation(d))
        .collect();
    for wanted in platform.compatible() {
        let hit = candidates.iter().find(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| Platform::from_document(p).normalized() == wanted)
        });
        if let Some(d) = hit {
            return Some(d);
        }
    }
    candidates.into_iter().find(|d| d.platform.is_none())
}

fn non_empty(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

/// containerd's Parse drops the implied `v7` of a bare `arm`.
fn arm_v7_implied(architecture: &str, variant: String) -> Option<String> {
    if architecture == "arm" && variant == "v7" {
        None
    } else {
        non_empty(variant)
    }
}

/// The numeric level of a `vN[.M]` variant.
/// The major level of a variant (`v7` → 7, `v8.2` → 8), at most
/// [`MAX_VARIANT_LEVEL`]: [`Platform::compatible`] lists every level below
/// it, and a client's `linux/arm/v99999999` must not make that list
/// (and the memory it takes) unbounded.
fn variant_major(variant: Option<&str>) -> Option<u32> {
    let v = variant?.strip_prefix('v')?;
    v.split('.')
        .next()?
        .parse::<u32>()
        .ok()
        .map(|l| l.min(MAX_VARIANT_LEVEL))
}

/// Above every variant level defined (amd64 v4, arm v8, arm64 v9).
const MAX_VARIANT_LEVEL: u32 = 16;

/// containerd's `normalizeOS`.
fn normalize_os(os: &str) -> String {
    let os = os.to_lowercase();
    if os == "macos" {
        "darwin".to_owned()
    } else {
        os
    }
}

/// containerd's `normalizeArch`.
fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let (arch, variant) = (arch.to_lowercase(), variant.to_lowercase());
    match arch.as_str() {
        "i386" => ("386".to_owned(), String::new()),
        "x86_64" | "x86-64" | "amd64" => (
            "amd64".to_owned(),
            if variant == "v1" {
                String::new()
            } else {
                variant
            },
        ),
        "aarch64" | "arm64" => {
            let variant = match variant.as_str() {
                "8" | "v8" | "v8.0" => String::new(),
                "9" | "9.0" | "v9.0" => "v9".to_owned(),
                _ => variant,
            };
            ("arm64".to_owned(), variant)
        }
        "armhf" => ("arm".to_owned(), "v7".to_owned()),
        "armel" => ("arm".to_owned(), "v6".to_owned()),
        "arm" => {
            let variant = match variant.as_str() {
                "" | "7" => "v7".to_owned(),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            };
            ("arm".to_owned(), variant)
        }
        _ => (arch, variant),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::digest::Digest;
    use crate::documents::{DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};

    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_like_containerd() {
        let host = Platform::host();
        let cases: &[(&str, &str, &str, Option<&str>)] = &[
            ("linux/amd64", "linux", "amd64", None),
            ("linux/x86_64", "linux", "amd64", None),
            ("Linux/AMD64", "linux", "amd64", None),
            ("linux/amd64/v1", "linux", "amd64", None),
            ("linux/amd64/v3", "linux", "amd64", Some("v3")),
            ("linux/arm64", "linux", "arm64", None),
            ("linux/aarch64", "linux", "arm64", None),
            ("linux/arm64/v8", "linux", "arm64", Some("v8")),
            ("linux/arm64/8", "linux", "arm64", Some("v8")),
            ("linux/aarch64/v9.0", "linux", "arm64", Some("v9")),
            ("linux/arm", "linux", "arm", None),
            ("linux/arm/v7", "linux", "arm", Some("v7")),
            ("linux/arm/7", "linux", "arm", Some("v7")),
            ("linux/arm/6", "linux", "arm", Some("v6")),
            ("linux/armhf", "linux", "arm", None),
            ("linux/armel", "linux", "arm", Some("v6")),
            ("linux/i386", "linux", "386", None),
            ("macos/arm64", "darwin", "arm64", None),
            ("windows/amd64", "windows", "amd64", None),
            ("linux/riscv64", "linux", "riscv64", None),
            ("arm64", &host.os, "arm64", None),
            ("amd64", &host.os, "amd64", None),
        ];
        for (input, os, arch, variant) in cases {
            let got = p(input);
            assert_eq!(
                (got.os(), got.architecture(), got.variant()),
                (*os, *arch, *variant),
                "{input}"
            );
        }
        let linux = p("linux");
        assert_eq!(linux.os(), "linux");
        assert_eq!(linux.architecture(), host.architecture());
    }

    #[test]
    fn rejects_bad_specifiers_with_containerd_messages() {
        assert_eq!(
            Platform::parse("foo").map_err(|e| e.to_string()),
            Err("\"foo\": unknown operating system or architecture: invalid argument".to_owned())
        );
        assert!(matches!(
            Platform::parse("linux/*"),
            Err(PlatformError::Wildcard(_))
        ));
        assert!(matches!(
            Platform::parse(""),
            Err(PlatformError::InvalidComponent { .. })
        ));
        assert!(matches!(
            Platform::parse("linux//v8"),
            Err(PlatformError::InvalidComponent { .. })
        ));
        assert!(matches!(
            Platform::parse("linux/am d64"),
            Err(PlatformError::InvalidComponent { .. })
        ));
        assert!(matches!(
            Platform::parse("linux/arm64/v8/x"),
            Err(PlatformError::TooManyParts(_))
        ));
    }

    #[test]
    fn display_and_matching() {
        assert_eq!(p("linux/arm64/v8").to_string(), "linux/arm64/v8");
        assert_eq!(p("linux/arm64").to_string(), "linux/arm64");
        assert_eq!(p("linux/amd64").to_string(), "linux/amd64");
        assert!(p("linux/arm64").matches(&p("linux/arm64/v8")));
        assert!(p("linux/aarch64").matches(&p("linux/arm64/v8")));
        assert!(p("linux/arm").matches(&p("linux/arm/v7")));
        assert!(!p("linux/arm/v6").matches(&p("linux/arm/v7")));
        assert!(!p("linux/amd64").matches(&p("windows/amd64")));
        assert!(p("linux/arm64").accepts(&p("linux/arm/v7")));
        assert!(p("linux/amd64").accepts(&p("linux/386")));
        assert!(!p("linux/arm/v6").accepts(&p("linux/arm/v7")));
        assert!(p("linux/arm/v7").accepts(&p("linux/arm/v5")));
        assert!(p("linux/amd64/v3").accepts(&p("linux/amd64/v2")));
        assert!(p("linux/amd64/v3").accepts(&p("linux/amd64")));
        assert!(!p("linux/amd64").accepts(&p("linux/amd64/v2")));
        let doc = documents::Platform {
            architecture: "arm64".into(),
            os: "linux".into(),
            variant: Some("v8".into()),
            os_version: None,
        };
        assert_eq!(Platform::from(&doc).to_string(), "linux/arm64/v8");
        assert_eq!(Platform::from_document(&doc).to_document(), doc);
    }

    #[test]
    fn host_uses_oci_names() {
        let host = Platform::host();
        assert_eq!(host.os(), "linux");
        let expected = match std::env::consts::ARCH {
            "x86_64" => "linux/amd64",
            "aarch64" => "linux/arm64/v8",
            "arm" => "linux/arm/v7",
            _ => return,
        };
        assert_eq!(host.to_string(), expected);
    }

    fn entry(n: u8, media_type: &str, platform: Option<(&str, &str, Option<&str>)>) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest: Digest::of(&[n]),
            size: 500 + u64::from(n),
            platform: platform.map(|(os, architecture, variant)| documents::Platform {
                architecture: architecture.to_owned(),
                os: os.to_owned(),
                variant: variant.map(str::to_owned),
                os_version: None,
            }),
            urls: Vec::new(),
            annotations: BTreeMap::new(),
        }
    }

    fn attestation(n: u8, of: &Descriptor) -> Descriptor {
        let mut d = entry(n, OCI_MANIFEST, Some(("unknown", "unknown", None)));
        d.annotations.insert(
            REFERENCE_TYPE_ANNOTATION.to_owned(),
            "attestation-manifest".to_owned(),
        );
        d.annotations.insert(
            "vnd.docker.reference.digest".to_owned(),
            of.digest.to_string(),
        );
        d
    }

    /// Shaped like docker.io/library/busybox's index: images plus BuildKit
    /// attestations.
    fn realistic_index() -> Vec<Descriptor> {
        let images = vec![
            entry(1, OCI_MANIFEST, Some(("linux", "amd64", None))),
            entry(2, OCI_MANIFEST, Some(("linux", "arm", Some("v5")))),
            entry(3, OCI_MANIFEST, Some(("linux", "arm", Some("v6")))),
            entry(4, OCI_MANIFEST, Some(("linux", "arm", Some("v7")))),
            entry(5, OCI_MANIFEST, Some(("linux", "arm64", Some("v8")))),
            entry(6, OCI_MANIFEST, Some(("linux", "386", None))),
            entry(7, OCI_MANIFEST, Some(("linux", "ppc64le", None))),
            entry(8, OCI_MANIFEST, Some(("linux", "s390x", None))),
        ];
        let attestations: Vec<Descriptor> = images
            .iter()
            .enumerate()
            .map(|(i, d)| attestation(100 + i as u8, d))
            .collect();
        images.into_iter().chain(attestations).collect()
    }

    #[test]
    fn selects_the_right_entry_from_a_realistic_index() {
        let index = realistic_index();
        let pick = |spec: &str| select(&index, &p(spec)).map(|d| d.size - 500);
        assert_eq!(pick("linux/amd64"), Some(1));
        assert_eq!(pick("linux/x86_64"), Some(1));
        assert_eq!(pick("linux/arm64"), Some(5));
        assert_eq!(pick("linux/arm64/v8"), Some(5));
        assert_eq!(pick("linux/arm"), Some(4));
        assert_eq!(pick("linux/arm/v7"), Some(4));
        assert_eq!(pick("linux/arm/v6"), Some(3));
        assert_eq!(pick("linux/arm/v5"), Some(2));
        assert_eq!(pick("linux/386"), Some(6));
        assert_eq!(pick("linux/s390x"), Some(8));
        assert_eq!(pick("linux/riscv64"), None);
        assert_eq!(pick("windows/amd64"), None);
        assert_eq!(
            pick("linux/amd64/v3"),
            Some(1),
            "v3 hosts run baseline amd64 images"
        );
        assert_eq!(
            select(&index, &Platform::host()).is_some(),
            ["x86_64", "aarch64", "arm", "x86"].contains(&std::env::consts::ARCH)
        );
    }

    #[test]
    fn attestations_and_non_manifests_are_never_selected() {
        let amd = entry(1, OCI_MANIFEST, Some(("linux", "amd64", None)));
        // Only attestations: nothing to pull, even for an "unknown" platform.
        let only_attestations = vec![attestation(2, &amd)];
        assert_eq!(select(&only_attestations, &p("linux/amd64")), None);
        assert_eq!(
            select(
                &only_attestations,
                &Platform::new("unknown", "unknown", None)
            ),
            None
        );
        // A nested index listed first for the platform is skipped.
        let nested = vec![
            entry(3, OCI_INDEX, Some(("linux", "amd64", None))),
            amd.clone(),
        ];
        assert_eq!(select(&nested, &p("linux/amd64")), Some(&amd));
        // An attestation without the unknown platform but with the annotation.
        let mut sneaky = entry(4, DOCKER_MANIFEST, Some(("linux", "amd64", None)));
        sneaky.annotations.insert(
            REFERENCE_TYPE_ANNOTATION.to_owned(),
            "attestation-manifest".to_owned(),
        );
        assert_eq!(
            select(&[sneaky, amd.clone()], &p("linux/amd64")),
            Some(&amd)
        );
    }

    #[test]
    fn huge_variant_levels_list_a_bounded_set() {
        // Found by fuzzing (target `reference`): `lux/arm/v030000006` made
        // `compatible` build thirty million platforms (out of memory).
        for spec in [
            "linux/arm/v030000006",
            "linux/amd64/v4294967295",
            "linux/arm64/v99999999",
        ] {
            let p = Platform::parse(spec).expect(spec);
            let list = p.compatible();
            assert!(list.len() <= 32, "{spec}: {}", list.len());
            assert_eq!(list[0], p.normalized(), "{spec}");
        }
    }

    #[test]
    fn prefers_exact_then_compatible_then_platformless() {
        let arm7 = entry(1, DOCKER_MANIFEST, Some(("linux", "arm", Some("v7"))));
        let arm64 = entry(2, DOCKER_MANIFEST, Some(("linux", "arm64", None)));
        let bare = entry(3, DOCKER_MANIFEST, None);
        let index = vec![arm7.clone(), bare.clone(), arm64.clone()];
        assert_eq!(
            select(&index, &p("linux/arm64/v8")),
            Some(&arm64),
            "exact beats earlier compatible"
        );
        assert_eq!(
            select(&[arm7.clone(), bare.clone()], &p("linux/arm64")),
            Some(&arm7),
            "arm64 runs arm/v7"
        );
        assert_eq!(
            select(&[arm7.clone(), bare.clone()], &p("linux/amd64")),
            Some(&bare),
            "platformless is last resort"
        );
        assert_eq!(select(&[arm7], &p("linux/amd64")), None);
        let i386 = entry(4, DOCKER_MANIFEST, Some(("linux", "386", None)));
        assert_eq!(
            select(std::slice::from_ref(&i386), &p("linux/amd64")),
            Some(&i386)
        );
    }
}
