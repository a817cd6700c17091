//! Registry credentials in the OS keychain (the `keyring` crate): the
//! store used when `config.json` names no credential helper. The docker
//! CLI reaches the same entries through `docker-credential-skiff` (this
//! crate's second binary), which the app names in `credHelpers` for each
//! registry it signs in to — so nothing is ever written in plain text.
//!
//! Backend: the Secret Service (GNOME Keyring, KWallet) when one answers on
//! D-Bus (the `keyring` crate), else the kernel's user keyring (keyutils,
//! shared by the user's processes and kept until the user's last process
//! ends — [`Backend::Session`] says so in the UI).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::helper::HelperCredentials;
use crate::error::{Error, Result};

/// The keyring service of every entry.
pub const SERVICE: &str = "skiff-docker-credentials";
/// The entry listing the servers stored (names only, no secret).
const INDEX: &str = "index";

/// Where the secrets are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Backend {
    /// The desktop's Secret Service: kept across restarts.
    SecretService,
    /// The kernel keyring: kept until the user's session ends.
    Session,
}

/// Secrets by key; the seam the tests replace.
pub trait Secrets: Send + Sync {
    /// The secret of `key`, `None` when there is none.
    fn get(&self, key: &str) -> Result<Option<String>>;
    /// Sets the secret of `key`.
    fn set(&self, key: &str, secret: &str) -> Result<()>;
    /// Deletes `key` (a missing one is not an error).
    fn delete(&self, key: &str) -> Result<()>;
    /// Where they are kept.
    fn backend(&self) -> Backend;
}

/// The OS keychain: the `keyring` crate's Secret Service store, or the
/// kernel's user keyring.
#[derive(Debug)]
pub struct OsKeyring {
    backend: Backend,
    /// The user keyring, when the Secret Service does not answer.
    user: Option<linux_keyutils::KeyRing>,
}

fn keyring_error(err: keyring::Error) -> Error {
    Error::Internal(format!("the OS keychain: {err}"))
}

impl OsKeyring {
    /// The Secret Service when it answers, else the kernel's user keyring.
    pub fn open() -> OsKeyring {
        let secret_service = keyring::secret_service::default_credential_builder();
        keyring::set_default_credential_builder(secret_service);
        let probe = keyring::Entry::new(SERVICE, INDEX).and_then(|e| e.get_password());
        match probe {
            Ok(_) | Err(keyring::Error::NoEntry) => OsKeyring {
                backend: Backend::SecretService,
                user: None,
            },
            Err(err) => {
                tracing::info!("no Secret Service ({err}); using the user keyring");
                let user = linux_keyutils::KeyRing::from_special_id(
                    linux_keyutils::KeyRingIdentifier::User,
                    true,
                )
                .map_err(|e| tracing::warn!("no user keyring either: {e}"))
                .ok();
                OsKeyring {
                    backend: Backend::Session,
                    user,
                }
            }
        }
    }

    fn user_ring(&self) -> Result<&linux_keyutils::KeyRing> {
        self.user.as_ref().ok_or_else(|| {
            Error::Internal("no OS keychain: no Secret Service and no user keyring".to_string())
        })
    }
}

/// The key description of `key` in the user keyring.
fn description(key: &str) -> String {
    format!("{SERVICE}:{key}")
}

fn keyutils_error(err: linux_keyutils::KeyError) -> Error {
    Error::Internal(format!("the user keyring: {err:?}"))
}

impl Secrets for OsKeyring {
    fn get(&self, key: &str) -> Result<Option<String>> {
        if self.backend == Backend::Session {
            return match self.user_ring()?.search(&description(key)) {
                Ok(found) => {
                    let bytes = found.read_to_vec().map_err(keyutils_error)?;
                    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
                }
                Err(linux_keyutils::KeyError::KeyDoesNotExist) => Ok(None),
                Err(err) => Err(keyutils_error(err)),
            };
        }
        let entry = keyring::Entry::new(SERVICE, key).map_err(keyring_error)?;
        match entry.get_password() {
            Ok(secret) => Ok(Some(secret)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(err) => Err(keyring_error(err)),
        }
    }

    fn set(&self, key: &str, secret: &str) -> Result<()> {
        if self.backend == Backend::Session {
            // add_key replaces a key of the same description in the ring.
            return self
                .user_ring()?
                .add_key(&description(key), secret)
                .map(|_| ())
                .map_err(keyutils_error);
        }
        keyring::Entry::new(SERVICE, key)
            .and_then(|e| e.set_password(secret))
            .map_err(keyring_error)
    }

    fn delete(&self, key: &str) -> Result<()> {
        if self.backend == Backend::Session {
            return match self.user_ring()?.search(&description(key)) {
                Ok(found) => found.invalidate().map_err(keyutils_error),
                Err(linux_keyutils::KeyError::KeyDoesNotExist) => Ok(()),
                Err(err) => Err(keyutils_error(err)),
            };
        }
        let entry = keyring::Entry::new(SERVICE, key).map_err(keyring_error)?;
        match entry.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(err) => Err(keyring_error(err)),
        }
    }

    fn backend(&self) -> Backend {
        self.backend
    }
}

/// What one entry holds.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    username: String,
    secret: String,
}

/// Registry credentials over [`Secrets`], in the helper protocol's terms.
#[derive(Clone)]
pub struct Keychain {
    secrets: Arc<dyn Secrets>,
}

impl std::fmt::Debug for Keychain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keychain")
            .field("backend", &self.secrets.backend())
            .finish()
    }
}

impl Keychain {
    /// Over `secrets`.
    pub fn new(secrets: Arc<dyn Secrets>) -> Keychain {
        Keychain { secrets }
    }

    /// Over the OS keychain.
    pub fn os() -> Keychain {
        Keychain::new(Arc::new(OsKeyring::open()))
    }

    /// Where the secrets are kept.
    pub fn backend(&self) -> Backend {
        self.secrets.backend()
    }

    fn index(&self) -> Result<BTreeMap<String, String>> {
        Ok(self
            .secrets
            .get(INDEX)?
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default())
    }

    fn set_index(&self, index: &BTreeMap<String, String>) -> Result<()> {
        let text = serde_json::to_string(index)
            .map_err(|e| Error::Internal(format!("the keychain index: {e}")))?;
        self.secrets.set(INDEX, &text)
    }

    fn key(server: &str) -> String {
        format!("server:{server}")
    }

    /// Stores `creds` (replacing what `server` had).
    pub fn store(&self, creds: &HelperCredentials) -> Result<()> {
        let stored = serde_json::to_string(&Stored {
            username: creds.username.clone(),
            secret: creds.secret.clone(),
        })
        .map_err(|e| Error::Internal(format!("credentials as JSON: {e}")))?;
        self.secrets.set(&Self::key(&creds.server_url), &stored)?;
        let mut index = self.index()?;
        index.insert(creds.server_url.clone(), creds.username.clone());
        self.set_index(&index)
    }

    /// The credentials of `server`.
    pub fn get(&self, server: &str) -> Result<Option<HelperCredentials>> {
        let Some(text) = self.secrets.get(&Self::key(server))? else {
            return Ok(None);
        };
        let stored: Stored = serde_json::from_str(&text)
            .map_err(|e| Error::Internal(format!("the keychain entry of {server}: {e}")))?;
        Ok(Some(HelperCredentials {
            server_url: server.to_string(),
            username: stored.username,
            secret: stored.secret,
        }))
    }

    /// Forgets `server`.
    pub fn erase(&self, server: &str) -> Result<()> {
        self.secrets.delete(&Self::key(server))?;
        let mut index = self.index()?;
        if index.remove(server).is_some() {
            self.set_index(&index)?;
        }
        Ok(())
    }

    /// Servers stored, with their user names.
    pub fn list(&self) -> Result<BTreeMap<String, String>> {
        self.index()
    }
}

/// A [`Secrets`] in memory, for tests.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct MemorySecrets {
    map: std::sync::Mutex<BTreeMap<String, String>>,
}

#[cfg(test)]
impl Secrets for MemorySecrets {
    fn get(&self, key: &str) -> Result<Option<String>> {
        Ok(self.map.lock().expect("lock").get(key).cloned())
    }
    fn set(&self, key: &str, secret: &str) -> Result<()> {
        self.map
            .lock()
            .expect("lock")
            .insert(key.to_string(), secret.to_string());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<()> {
        self.map.lock().expect("lock").remove(key);
        Ok(())
    }
    fn backend(&self) -> Backend {
        Backend::Session
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_lists_and_erases() {
        let chain = Keychain::new(Arc::new(MemorySecrets::default()));
        let creds = HelperCredentials {
            server_url: "127.0.0.1:5000".into(),
            username: "alice".into(),
            secret: "s3cret".into(),
        };
        chain.store(&creds).expect("store");
        assert_eq!(chain.get("127.0.0.1:5000").expect("get"), Some(creds));
        assert_eq!(
            chain.list().expect("list"),
            BTreeMap::from([("127.0.0.1:5000".to_string(), "alice".to_string())])
        );
        chain.erase("127.0.0.1:5000").expect("erase");
        assert_eq!(chain.get("127.0.0.1:5000").expect("get"), None);
        assert!(chain.list().expect("list").is_empty());
        chain.erase("never").expect("erasing nothing");
    }
}
