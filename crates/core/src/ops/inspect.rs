//! Everything about one entity, for inspection only: never on the hot path.

use super::{Service, ServiceError};
use crate::domain::EntityId;
use crate::model::{FeatureValue, Inspection, Ttl};
use crate::registry::is_reserved;

impl Service {
    /// Everything about one entity (of the entity `entity` names; the first when `None`): every registry feature, present or not, then any other
    /// fields (the views' write times, foreign fields), each with its TTL.
    pub async fn inspect(
        &self,
        entity: Option<&str>,
        id: &EntityId,
    ) -> Result<Inspection, ServiceError> {
        let served = self.served(entity)?;
        let store = &served.store;
        let mut stored = self.within(None, store.read_all(id)).await?;
        let mut names: Vec<String> = served
            .registry
            .features()
            .map(|(_, f)| f.name.clone())
            .collect();
        let mut others: Vec<String> = stored
            .iter()
            .filter(|(name, _)| served.registry.find(name).is_none())
            .map(|(name, _)| name.clone())
            .collect();
        // Write times after the other extra fields, each group sorted: a stable order to read.
        others.sort_by_key(|name| (is_reserved(name), name.clone()));
        names.extend(others);
        let ttls_and_key_ttl =
            async { tokio::try_join!(store.field_ttls(id, &names), store.key_ttl(id)) };
        let (ttls, key_ttl) = self.within(None, ttls_and_key_ttl).await?;
        let fields = names
            .into_iter()
            .zip(ttls)
            .map(|(name, ttl)| {
                let value = stored
                    .iter()
                    .position(|(stored_name, _)| *stored_name == name)
                    .map(|at| stored.swap_remove(at).1);
                FeatureValue::new(&served.registry, name, value, ttl)
            })
            .collect();
        Ok(Inspection {
            user: id.to_string(),
            exists: key_ttl != Ttl::Missing,
            key_ttl_seconds: key_ttl,
            fields,
        })
    }
}
