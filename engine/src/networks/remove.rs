//! `docker network rm` and `docker network prune`.

use super::record::NetworkRecord;
use super::{NetworkError, NetworkService};

impl NetworkService {
    /// Removes a user-defined network with no endpoint (no running
    /// container on it); the predefined ones and networks in use are
    /// refused with dockerd's words (403). Its subnet goes back to the
    /// IPAM; stopped containers keep their attachment (their start then
    /// fails, as with dockerd).
    pub fn remove(&self, what: &str) -> Result<(), NetworkError> {
        let mut st = self.lock();
        let net = Self::find(&st, what)?.clone();
        if net.predefined {
            return Err(NetworkError::Predefined(net.name));
        }
        if st.endpoints_on(&net.id).next().is_some() {
            return Err(NetworkError::InUse {
                name: net.name,
                id: net.id,
            });
        }
        self.forget(&mut st, &net)?;
        drop(st);
        self.event("destroy", &net, &[]);
        Ok(())
    }

    /// Removes every user-defined network no running container uses
    /// (optionally only those `keep` says no to); returns their names.
    pub fn prune(
        &self,
        keep: impl Fn(&NetworkRecord) -> bool,
    ) -> Result<Vec<String>, NetworkError> {
        let mut st = self.lock();
        let unused: Vec<NetworkRecord> = st
            .networks
            .values()
            .filter(|n| !n.predefined && !keep(n))
            .filter(|n| st.endpoints_on(&n.id).next().is_none())
            .cloned()
            .collect();
        let mut removed = Vec::new();
        for net in unused {
            self.forget(&mut st, &net)?;
            self.event("destroy", &net, &[]);
            removed.push(net.name);
        }
        drop(st);
        if !removed.is_empty() {
            self.events
                .publish(crate::events::EventType::Network, "prune", "", &[]);
        }
        Ok(removed)
    }

    /// Drops a network from the state (and its subnet from the IPAM) and
    /// deletes its bridge, if one is left.
    fn forget(
        &self,
        st: &mut super::record::NetState,
        net: &NetworkRecord,
    ) -> Result<(), NetworkError> {
        st.networks.remove(&net.id);
        if let Some(subnet) = net.subnet {
            st.ipam.release_pool(subnet);
        }
        self.save(st)?;
        if let Some(bridge) = &net.bridge {
            if let Err(e) = self.kernel.remove_bridge(bridge) {
                tracing::warn!("removing bridge {bridge}: {e}");
            }
            // Its rules go with it (no `nft` run when the table applied
            // last is what is left).
            if net.subnet.is_some()
                && let Err(e) = self.sync_firewall(st)
            {
                tracing::warn!("removing the rules of bridge {bridge}: {e}");
            }
        }
        Ok(())
    }
}
