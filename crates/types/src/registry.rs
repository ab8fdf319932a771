//! The feature registry: the entity and its feature views, as data. Loaded from a TOML file at
//! startup (`features.toml` unless `--features` names another) and read by everything that once
//! read a constant schema: the store's TTL layers, the worker, the synthesizer, the API
//! defaults, the Feast routes and the UI.

use serde::{Deserialize, Serialize};

use crate::domain::KeyPrefix;
use crate::schema::{Draw, FeatureKind, ValueType};

/// Each view's event time (Unix ms) is stored in a hash field named this plus the view's name,
/// `_ts:user_stream`: Feast's `event_timestamps`, and what the event-time rule compares.
pub const STAMP_PREFIX: &str = "_ts:";
/// Each view's write time (Unix ms, when the store wrote it) is stored beside it: `_wt:<view>`.
pub const WRITTEN_PREFIX: &str = "_wt:";
/// A materialized row's created time (Unix ms), which breaks a tie between two rows with the
/// same event time: `_cr:<view>`.
pub const CREATED_PREFIX: &str = "_cr:";

/// Whether a hash field is one the store keeps for itself (event and write times), not a
/// feature: a feature name never starts with `_`.
pub fn is_reserved(field: &str) -> bool {
    field.starts_with('_')
}

/// What a field the store keeps for itself holds, for people: `event time` for `_ts:<view>`,
/// `write time` for `_wt:<view>`, `created time` for `_cr:<view>`; `None` for any other field.
pub fn stamp_label(field: &str) -> Option<&'static str> {
    if field.starts_with(STAMP_PREFIX) {
        Some("event time")
    } else if field.starts_with(WRITTEN_PREFIX) {
        Some("write time")
    } else if field.starts_with(CREATED_PREFIX) {
        Some("created time")
    } else {
        None
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    pub entity: EntityDef,
    pub views: Vec<View>,
    /// Named sets of features, asked for by name as Feast's feature services are.
    #[serde(default)]
    pub services: Vec<FeatureService>,
}

/// The features a model reads together, under one name (Feast's feature service).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureService {
    pub name: String,
    /// `view:feature` each, in order: a whole view named in the file is listed feature by
    /// feature, every one checked when the registry was loaded.
    pub features: Vec<String>,
}

/// The one entity the store keys by.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntityDef {
    pub name: String,
    /// The column callers name the entity by, as in Feast: `user_id`.
    pub join_key: String,
    pub key_prefix: KeyPrefix,
}

/// Features written together, by one path, under one TTL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct View {
    pub name: String,
    /// `batch`: the key-level TTL; `streaming`: a per-field TTL.
    pub kind: FeatureKind,
    pub ttl_seconds: u64,
    /// The name `/push` takes for this view, if it can be pushed to.
    pub push_source: Option<String>,
    /// Where `materialize` reads this view's rows, if anywhere (batch views only). Never sent:
    /// where the server's files live is no caller's business.
    #[serde(default, skip_serializing)]
    pub source: Option<Source>,
    pub features: Vec<Feature>,
}

/// A batch view's offline rows: Parquet or CSV files in a table's shape, one row per entity and
/// event, as Feast's `FileSource` reads them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The files: one path, or a glob (`data/users-*.parquet`); `.parquet` or `.csv` says how
    /// each is read.
    pub path: String,
    /// The column of the entity's id (the entity's join key unless the file says otherwise).
    pub entity_column: String,
    /// The column of each row's event time.
    pub timestamp_column: String,
    /// The column that breaks a tie between two rows of one entity with the same event time:
    /// the later created wins, as in Feast.
    pub created_column: Option<String>,
    /// Feature name to column name, where they differ.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub columns: std::collections::BTreeMap<String, String>,
}

impl Source {
    /// The column a feature's values are in.
    pub fn column_of<'a>(&'a self, feature: &'a str) -> &'a str {
        self.columns.get(feature).map_or(feature, String::as_str)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub name: String,
    #[serde(rename = "type")]
    pub value_type: ValueType,
    /// Ticked in the Read panel when it opens.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_by_default: bool,
    /// Read by batch scoring when a request names no fields (every streaming feature is too).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub batch_read_by_default: bool,
    /// How the synthesizer draws its values; by its type when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draw: Option<Draw>,
}

impl View {
    /// The hash field holding the event time of this view's stored values, in Unix ms.
    pub fn stamp_field(&self) -> String {
        format!("{STAMP_PREFIX}{}", self.name)
    }

    /// The hash field holding the created time of this view's materialized row, in Unix ms.
    pub fn created_field(&self) -> String {
        format!("{CREATED_PREFIX}{}", self.name)
    }

    /// The fields a write of this view adds to its row: the event time and the write time.
    pub fn stamps(&self, event_unix_ms: u64, written_unix_ms: u64) -> [(String, String); 2] {
        [
            (self.stamp_field(), event_unix_ms.to_string()),
            (
                format!("{WRITTEN_PREFIX}{}", self.name),
                written_unix_ms.to_string(),
            ),
        ]
    }

    pub fn feature(&self, name: &str) -> Option<&Feature> {
        self.features.iter().find(|f| f.name == name)
    }
}

impl Registry {
    /// This registry with the prefix and TTLs a flag overrides: a flag wins over the file.
    pub fn with_overrides(
        mut self,
        key_prefix: Option<&KeyPrefix>,
        batch_ttl_seconds: Option<u64>,
        streaming_ttl_seconds: Option<u64>,
    ) -> Registry {
        if let Some(prefix) = key_prefix {
            self.entity.key_prefix = prefix.clone();
        }
        for view in &mut self.views {
            let ttl = match view.kind {
                FeatureKind::Batch => batch_ttl_seconds,
                FeatureKind::Streaming => streaming_ttl_seconds,
            };
            if let Some(ttl) = ttl {
                view.ttl_seconds = ttl;
            }
        }
        self
    }

    /// The entity's key prefix.
    pub fn key_prefix(&self) -> &KeyPrefix {
        &self.entity.key_prefix
    }

    /// Every feature with its view, views in file order.
    pub fn features(&self) -> impl Iterator<Item = (&View, &Feature)> {
        self.views
            .iter()
            .flat_map(|view| view.features.iter().map(move |f| (view, f)))
    }

    /// A feature by its name, unique across views.
    pub fn find(&self, name: &str) -> Option<(&View, &Feature)> {
        self.features().find(|(_, f)| f.name == name)
    }

    pub fn view(&self, name: &str) -> Option<&View> {
        self.views.iter().find(|v| v.name == name)
    }

    pub fn service(&self, name: &str) -> Option<&FeatureService> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The view a push source feeds.
    pub fn pushed_by(&self, source: &str) -> Option<&View> {
        self.views
            .iter()
            .find(|v| v.push_source.as_deref() == Some(source))
    }

    pub fn views_of(&self, kind: FeatureKind) -> impl Iterator<Item = &View> {
        self.views.iter().filter(move |v| v.kind == kind)
    }

    /// The names of every feature of one kind, in file order.
    pub fn names_of(&self, kind: FeatureKind) -> impl Iterator<Item = &str> {
        self.views_of(kind)
            .flat_map(|v| v.features.iter().map(|f| f.name.as_str()))
    }

    /// The TTL every view of `kind` shares (the loader checks they do), if there is one.
    pub fn ttl_of(&self, kind: FeatureKind) -> Option<u64> {
        self.views_of(kind).next().map(|v| v.ttl_seconds)
    }

    /// What the Read panel starts with: the features the file marks `read_by_default`, else the
    /// first five.
    pub fn read_by_default(&self) -> Vec<String> {
        self.marked(|f| f.read_by_default, 5)
    }

    /// What batch scoring reads when no fields are given: the features the file marks
    /// `batch_read_by_default` and every streaming feature; every feature of a registry that
    /// marks none and has no streaming view.
    pub fn batch_read_default(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .features()
            .filter(|(view, f)| f.batch_read_by_default || view.kind == FeatureKind::Streaming)
            .map(|(_, f)| f.name.clone())
            .collect();
        if names.is_empty() {
            names = self.features().map(|(_, f)| f.name.clone()).collect();
        }
        names
    }

    fn marked(&self, marked: fn(&Feature) -> bool, otherwise: usize) -> Vec<String> {
        let names: Vec<String> = self
            .features()
            .filter(|(_, f)| marked(f))
            .map(|(_, f)| f.name.clone())
            .collect();
        if names.is_empty() {
            self.features()
                .take(otherwise)
                .map(|(_, f)| f.name.clone())
                .collect()
        } else {
            names
        }
    }
}
