//! Pushed rows of one view (Feast's `/push`), written through the path the view's kind takes.

use futures::StreamExt;

use super::{Service, ServiceError};
use crate::domain::EntityId;
use crate::model::{PushSkipped, Pushed};
use crate::registry::View;
use crate::schema::FeatureKind;
use crate::store::{EntityRow, EventRule, SkipReason, StreamingOutcome};

/// Streaming writes of one push awaiting their reply at once.
const PUSH_WRITES_IN_FLIGHT: usize = 32;

/// One pushed row, checked, with its event time if the push gave one (else the write's time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushRow {
    pub row: EntityRow,
    pub event_unix_ms: Option<u64>,
}

impl Service {
    /// Writes pushed rows of one view through the path its kind takes: a batch view like a bulk
    /// load (creating the entity, with the key TTL), a streaming view like the worker (one
    /// atomic write per entity, values with their per-field TTL; an entity that does not exist
    /// is skipped). Each row carries the view's event time (its own, else now) and write time
    /// (now); under `rule` a row whose event is not newer than the stored one is skipped and
    /// listed. `rows` are checked by the caller.
    pub async fn push(
        &self,
        view: &View,
        rows: Vec<PushRow>,
        rule: EventRule,
    ) -> Result<Pushed, ServiceError> {
        let now_ms = crate::store::unix_ms_now();
        let rows = rows.into_iter().map(
            |PushRow {
                 mut row,
                 event_unix_ms,
             }| {
                row.fields
                    .extend(view.stamps(event_unix_ms.unwrap_or(now_ms), now_ms));
                row
            },
        );
        let mut pushed = Pushed {
            view: view.name.clone(),
            written: 0,
            skipped: Vec::new(),
        };
        match view.kind {
            FeatureKind::Batch => {
                let report = self
                    .store_of(view)
                    .bulk_load_with_progress(rows, None, rule, |_| {})
                    .await?;
                pushed.written = report.written as u64;
                let skipped = |ids: Vec<EntityId>, reason: SkipReason| {
                    ids.into_iter().map(move |id| PushSkipped {
                        id: id.to_string(),
                        reason: reason.to_string(),
                    })
                };
                pushed.skipped = skipped(report.not_hashes, SkipReason::NotAHash)
                    .chain(skipped(report.older, SkipReason::Older))
                    .collect();
            }
            FeatureKind::Streaming => {
                let writes = rows.map(|row| async move {
                    let outcome = self
                        .store_of(view)
                        .write_streaming(&row.id, &row.fields, rule)
                        .await;
                    (row.id, outcome)
                });
                let outcomes: Vec<_> = futures::stream::iter(writes)
                    .buffered(PUSH_WRITES_IN_FLIGHT)
                    .collect()
                    .await;
                for (id, outcome) in outcomes {
                    match outcome? {
                        StreamingOutcome::Written => pushed.written += 1,
                        StreamingOutcome::Skipped(reason) => pushed.skipped.push(PushSkipped {
                            id: id.to_string(),
                            reason: reason.to_string(),
                        }),
                    }
                }
            }
        }
        Ok(pushed)
    }
}
