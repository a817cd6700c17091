//! `docker rename`.

use super::ContainerService;
use super::error::ContainerError;
use super::names;

impl ContainerService {
    /// Give a container a new name (unique, docker's name rules).
    pub fn rename(&self, what: &str, new_name: &str) -> Result<(), ContainerError> {
        let record = self.resolve(what)?;
        let new_name = names::validate(new_name)
            .map_err(ContainerError::InvalidArgument)?
            .to_owned();
        if new_name == record.name {
            return Err(ContainerError::InvalidArgument(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        if let Some(other) = self.store.name_taken(&new_name) {
            return Err(ContainerError::Conflict(format!(
                "Error when allocating new name: Conflict. The container name \"/{new_name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        let old = record.name.clone();
        let record = self.update(&record.id, |r| r.name = new_name.clone())?;
        if let Some(n) = self.networks() {
            n.rename_container(&record.id, &new_name);
        }
        self.record_event("rename", &record, &[("oldName", &format!("/{old}"))]);
        Ok(())
    }
}
