//! `docker volume create`, and the volumes containers create (`-v name:/d`,
//! `-v /anon`, image `VOLUME`s).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use skiff_store::atomic;

use super::local::LocalOptions;
use super::{
    ANONYMOUS_LABEL, DATA_DIR, Entry, LOCAL_DRIVER, OPTS_FILE, RECORD_FILE, Volume, VolumeError,
    VolumeRecord, VolumeService, rfc3339_seconds,
};

/// A create request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateRequest {
    /// The name; `None` or empty creates an anonymous volume with a random
    /// 64-hex name and the `com.docker.volume.anonymous` label.
    pub name: Option<String>,
    /// The driver; `None`, empty or `local`.
    pub driver: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// The local driver's options (`type`, `device`, `o`, `size`).
    pub options: BTreeMap<String, String>,
    /// A container to record as using the volume, atomically with the
    /// create (so a concurrent prune cannot take it).
    pub reference: Option<String>,
}

/// dockerd's `stringid.GenerateRandomID`: 64 hex digits whose 12-digit
/// short form is never all decimal digits.
pub fn random_id() -> String {
    loop {
        let raw: [u8; 32] = rand::random();
        let id: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        if !id[..12].bytes().all(|b| b.is_ascii_digit()) {
            return id;
        }
    }
}

/// The local driver's name rule (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`), with
/// dockerd's messages.
fn validate_name(name: &str) -> Result<(), String> {
    if name.chars().count() == 1 {
        return Err(
            "volume name is too short, names should be at least two alphanumeric characters"
                .to_owned(),
        );
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !(first_ok && rest_ok) {
        return Err(format!(
            "{name:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        ));
    }
    Ok(())
}

impl VolumeService {
    /// Create a volume, or return the existing one of that name (unchanged:
    /// dockerd ignores the new labels and options then). Publishes `create`
    /// only for a new volume. The volume appears on disk atomically: built
    /// under a temporary name, then renamed into place.
    pub fn create(&self, req: CreateRequest) -> Result<Volume, VolumeError> {
        let (name, anonymous) = match req.name.filter(|n| !n.is_empty()) {
            Some(n) => (n, false),
            None => (random_id(), true),
        };
        let mut labels = req.labels;
        let driver = req.driver.filter(|d| !d.is_empty());
        if let Some(d) = driver.as_deref().filter(|d| *d != LOCAL_DRIVER) {
            return Err(VolumeError::UnknownDriver {
                name,
                driver: d.to_owned(),
            });
        }
        let mut state = self.lock();
        if let Some(entry) = state.volumes.get(&name) {
            let view = self.view(entry);
            if let Some(container) = req.reference {
                state.refs.entry(name).or_default().insert(container);
            }
            return Ok(view);
        }
        let invalid = |reason: String| VolumeError::InvalidCreate {
            name: name.clone(),
            reason,
        };
        validate_name(&name).map_err(invalid)?;
        let local = LocalOptions::from_request(&req.options).map_err(invalid)?;
        if anonymous {
            labels.insert(ANONYMOUS_LABEL.to_owned(), String::new());
        }
        let record = VolumeRecord {
            name: name.clone(),
            driver: LOCAL_DRIVER.to_owned(),
            created_at: rfc3339_seconds(time::OffsetDateTime::now_utc()),
            labels,
            options: req.options,
        };
        self.materialise(&record, local.as_ref())?;
        let entry = Entry {
            record,
            local,
            active: 0,
            mounted: false,
        };
        let view = self.view(&entry);
        state.volumes.insert(name.clone(), entry);
        if let Some(container) = req.reference {
            state
                .refs
                .entry(name.clone())
                .or_default()
                .insert(container);
        }
        drop(state);
        self.event("create", &name, &[("driver", LOCAL_DRIVER)]);
        Ok(view)
    }

    /// Write a volume's directory under a temporary name and rename it into
    /// place.
    fn materialise(
        &self,
        record: &VolumeRecord,
        local: Option<&LocalOptions>,
    ) -> Result<(), VolumeError> {
        let dir = self.dir(&record.name);
        let tmp = atomic::temp_sibling(&dir);
        let result = (|| {
            let data = tmp.join(DATA_DIR);
            fs::create_dir(&tmp).map_err(VolumeError::io(
                "error while creating volume root path",
                &tmp,
            ))?;
            fs::set_permissions(&tmp, fs::Permissions::from_mode(0o701)).map_err(
                VolumeError::io("error while creating volume root path", &tmp),
            )?;
            fs::create_dir(&data).map_err(VolumeError::io(
                "error while creating volume data path",
                &data,
            ))?;
            fs::set_permissions(&data, fs::Permissions::from_mode(0o755)).map_err(
                VolumeError::io("error while creating volume data path", &data),
            )?;
            if let Some(opts) = local {
                let path = tmp.join(OPTS_FILE);
                atomic::write_json(&path, opts).map_err(VolumeError::io(
                    "error while persisting volume options",
                    &path,
                ))?;
            }
            let path = tmp.join(RECORD_FILE);
            atomic::write_json(&path, record).map_err(VolumeError::io(
                "error while persisting volume record",
                &path,
            ))?;
            skiff_failpoint::point!(skiff_failpoint::VOLUME_CREATE_BEFORE_RENAME);
            fs::rename(&tmp, &dir).map_err(VolumeError::io(
                "error while creating volume root path",
                &dir,
            ))?;
            atomic::sync_parent(&dir).map_err(VolumeError::io(
                "error while creating volume root path",
                &dir,
            ))
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        result
    }
}
