//! One record batch of a view's file into the rows the batch write script takes: the registry's
//! types decide how each column is read; a value that does not fit is counted where it is, a
//! null clears the field (the row is the entity's latest), a row outside the window is skipped.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_cast::cast;
use arrow_schema::{DataType, TimeUnit};

use super::Window;
use crate::domain::EntityId;
use crate::model::{Refused, ViewMaterialized};
use crate::registry::{Source, View};
use crate::schema::ValueType;
use crate::store::EntityRow;

/// Refused values listed by where they are, per column.
const FIRST_REFUSED: usize = 5;

/// Where the batch sits: its file, and the number of its first data row there (from 1).
pub(super) struct At<'a> {
    pub file: &'a str,
    pub first_row: u64,
}

/// The batch's rows inside the window; every other row counted in `report`.
pub(super) fn convert(
    batch: &RecordBatch,
    view: &View,
    source: &Source,
    window: Window,
    at: &At<'_>,
    now_ms: u64,
    report: &mut ViewMaterialized,
) -> Vec<EntityRow> {
    let column = |name: &str| batch.column_by_name(name);
    let mut refusals = Refusals { at, report };
    let ids = column(&source.entity_column).map(text);
    let events = column(&source.timestamp_column).map(millis);
    let created = source
        .created_column
        .as_deref()
        .and_then(column)
        .map(millis);
    let features: Vec<_> = view
        .features
        .iter()
        .map(|f| {
            let name = source.column_of(&f.name);
            (f, name, column(name).map(|c| typed(c, f.value_type)))
        })
        .collect();
    let (Some((id_texts, id_given)), Some((event_ms, event_given))) = (ids, events) else {
        return Vec::new();
    };
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        refusals.report.rows_read += 1;
        let id = match id_texts.get(row).cloned().flatten() {
            Some(text) => EntityId::parse(&text).ok(),
            None => None,
        };
        let Some(id) = id else {
            let rule = "an entity id: 1 to 128 characters, no ':' nor control characters";
            refusals.note(&source.entity_column, rule, row, id_given[row]);
            continue;
        };
        let Some(event) = event_ms[row] else {
            let rule = "a date and time (or Unix milliseconds)";
            refusals.note(&source.timestamp_column, rule, row, event_given[row]);
            continue;
        };
        if event < window.start_ms || event > window.end_ms {
            refusals.report.outside_window += 1;
            continue;
        }
        let mut fields = Vec::with_capacity(features.len() + 3);
        let mut cleared = Vec::new();
        for (feature, name, values) in &features {
            let Some((values, given)) = values else {
                continue;
            };
            match &values[row] {
                Some(value) => fields.push((feature.name.clone(), value.clone())),
                None if given[row] => refusals.note(name, feature.value_type.rule(), row, true),
                None => cleared.push(feature.name.clone()),
            }
        }
        fields.extend(view.stamps(event, now_ms));
        if let Some((created, _)) = &created {
            if let Some(created) = created[row] {
                fields.push((view.created_field(), created.to_string()));
            }
        }
        rows.push(EntityRow {
            id,
            fields,
            cleared,
        });
    }
    rows
}

/// Counts refused values into the report, and keeps where the first few are.
struct Refusals<'a, 'r> {
    at: &'a At<'a>,
    report: &'r mut ViewMaterialized,
}

impl Refusals<'_, '_> {
    /// Notes a value of `column` that is missing (`given` false: a null, not refused) or does
    /// not fit.
    fn note(&mut self, column: &str, rule: &str, row: usize, given: bool) {
        if !given {
            return;
        }
        let refused = match self.report.refused.iter_mut().find(|r| r.column == column) {
            Some(refused) => refused,
            None => {
                self.report.refused.push(Refused {
                    column: column.to_owned(),
                    rule: rule.to_owned(),
                    count: 0,
                    first: Vec::new(),
                });
                self.report.refused.last_mut().expect("just pushed")
            }
        };
        refused.count += 1;
        if refused.first.len() < FIRST_REFUSED {
            let number = self.at.first_row + row as u64;
            refused.first.push(format!("{} row {number}", self.at.file));
        }
    }
}

/// Per row: the value as it is stored (`None` for a null or a value that does not fit), and
/// whether the file gave one (not null).
type Column<T> = (Vec<Option<T>>, Vec<bool>);

fn given(array: &ArrayRef) -> Vec<bool> {
    (0..array.len()).map(|row| array.is_valid(row)).collect()
}

/// A column as text: strings as they are, numbers written out.
fn text(array: &ArrayRef) -> Column<String> {
    let values = match cast(array, &DataType::Utf8) {
        Ok(cast) => cast
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect(),
        Err(_) => vec![None; array.len()],
    };
    (values, given(array))
}

/// A column of times as Unix milliseconds: timestamps and dates as they are (a time without a
/// zone is UTC), text parsed (`2026-12-01 10:00:00`, RFC 3339), whole numbers taken as
/// milliseconds. Nothing before 1970.
fn millis(array: &ArrayRef) -> Column<u64> {
    let as_millis = match array.data_type() {
        DataType::Int64 | DataType::Int32 | DataType::UInt32 => cast(array, &DataType::Int64),
        DataType::Timestamp(_, zone) => cast(
            array,
            &DataType::Timestamp(TimeUnit::Millisecond, zone.clone()),
        )
        .and_then(|ms| cast(&ms, &DataType::Int64)),
        _ => cast(array, &DataType::Timestamp(TimeUnit::Millisecond, None))
            .and_then(|ms| cast(&ms, &DataType::Int64)),
    };
    let values = match as_millis {
        Ok(ms) => ms
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| v.and_then(|ms| u64::try_from(ms).ok()))
            .collect(),
        Err(_) => vec![None; array.len()],
    };
    (values, given(array))
}

/// A feature's column in the stored form of its type, as a push would write each value.
fn typed(array: &ArrayRef, value_type: ValueType) -> Column<String> {
    let strings =
        |target: DataType, write: fn(&ArrayRef, usize) -> String| -> Vec<Option<String>> {
            match cast(array, &target) {
                Ok(cast) => (0..cast.len())
                    .map(|row| cast.is_valid(row).then(|| write(&cast, row)))
                    .collect(),
                Err(_) => vec![None; array.len()],
            }
        };
    let values = match value_type {
        ValueType::String => return text(array),
        ValueType::Timestamp => {
            let (values, given) = millis(array);
            return (
                values
                    .into_iter()
                    .map(|v| v.map(|ms| ms.to_string()))
                    .collect(),
                given,
            );
        }
        ValueType::Int => strings(DataType::Int64, |a, row| {
            a.as_primitive::<Int64Type>().value(row).to_string()
        }),
        ValueType::Float => strings(DataType::Float64, |a, row| {
            a.as_primitive::<Float64Type>().value(row).to_string()
        }),
        ValueType::Bool => strings(DataType::Boolean, |a, row| {
            a.as_boolean().value(row).to_string()
        }),
    };
    // Not finite is no number: refused like any other value that does not fit.
    let values = match value_type {
        ValueType::Float => values
            .into_iter()
            .map(|v| v.filter(|f| f.parse::<f64>().is_ok_and(f64::is_finite)))
            .collect(),
        _ => values,
    };
    (values, given(array))
}
