//! The feature registry: the entities and their feature views, as data. Loaded from a TOML file at
//! startup (`features.toml` unless `--features` names another) and read by everything that once
//! read a constant schema: the store's TTL layers, the worker, the synthesizer, the API
//! defaults, the Feast routes and the UI.

use std::collections::HashMap;
use std::sync::OnceLock;

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
    /// Each entity the store keys by, with a key prefix of its own. The first is the one the
    /// UI's panels, the index and the worker serve; Feast's routes serve all of them.
    pub entities: Vec<EntityDef>,
    pub views: Vec<View>,
    /// Named sets of features, asked for by name as Feast's feature services are.
    #[serde(default)]
    pub services: Vec<FeatureService>,
    /// Maps from names to views, features and services, built at the first lookup: a read
    /// resolves its features by hash, not by a walk over the registry.
    #[serde(skip)]
    pub lookup: Lookup,
}

/// Where each view, `view:feature` and service is in a registry; derived from it, so never
/// compared nor sent.
#[derive(Clone, Debug, Default)]
pub struct Lookup(OnceLock<Maps>);

impl PartialEq for Lookup {
    fn eq(&self, _: &Lookup) -> bool {
        true
    }
}

#[derive(Clone, Debug)]
struct Maps {
    views: HashMap<String, usize>,
    /// `view:feature` to the view's and the feature's positions.
    features: HashMap<String, (usize, usize)>,
    services: HashMap<String, Vec<(usize, usize)>>,
    /// Per entity, by position: the fields a full row of it holds.
    row_fields: Vec<usize>,
}

impl Maps {
    fn of(registry: &Registry) -> Maps {
        let mut features = HashMap::new();
        for (v, view) in registry.views.iter().enumerate() {
            for (f, feature) in view.features.iter().enumerate() {
                features.insert(format!("{}:{}", view.name, feature.name), (v, f));
            }
        }
        let services = registry
            .services
            .iter()
            .map(|service| {
                let at = service
                    .features
                    .iter()
                    .filter_map(|reference| features.get(reference).copied())
                    .collect();
                (service.name.clone(), at)
            })
            .collect();
        let row_fields = registry
            .entities
            .iter()
            .map(|entity| {
                registry
                    .views
                    .iter()
                    .filter(|view| view.entity == entity.name)
                    .map(View::row_fields)
                    .sum()
            })
            .collect();
        Maps {
            row_fields,
            views: registry
                .views
                .iter()
                .enumerate()
                .map(|(v, view)| (view.name.clone(), v))
                .collect(),
            features,
            services,
        }
    }
}

/// The features a model reads together, under one name (Feast's feature service).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureService {
    pub name: String,
    /// `view:feature` each, in order: a whole view named in the file is listed feature by
    /// feature, every one checked when the registry was loaded.
    pub features: Vec<String>,
}

/// An entity the store keys by: one hash per id under its prefix.
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
    /// The entity whose hash holds this view's features, by name.
    pub entity: String,
    /// `batch`: the key-level TTL; `streaming`: a per-field TTL.
    pub kind: FeatureKind,
    pub ttl_seconds: u64,
    /// The name `/push` takes for this view, if it can be pushed to.
    pub push_source: Option<String>,
    /// Where `materialize` reads this view's rows, if anywhere (batch views only). Sent as `{}`:
    /// a caller learns that the view has a source, never where the server's files live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    pub features: Vec<Feature>,
}

/// A batch view's offline rows: Parquet or CSV files in a table's shape, one row per entity and
/// event, as Feast's `FileSource` reads them. None of it is serialized (see `View::source`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
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
    pub columns: std::collections::BTreeMap<String, String>,
}

/// Only that there is a source is sent: `{}`.
impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        serializer.serialize_map(Some(0))?.end()
    }
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

    /// The fields a full row of this view holds in its entity's hash: its features, its event
    /// and write times, and a materialized row's created time.
    fn row_fields(&self) -> usize {
        self.features.len() + 2 + usize::from(self.source.is_some())
    }
}

impl Registry {
    /// This registry with the prefix and TTLs a flag overrides: a flag wins over the file. The
    /// prefix is the first entity's; each other entity's becomes it with `.<entity>` before its
    /// last ':' (`t:` gives `t.merchant:`), so two servers given two prefixes share no key, and
    /// no entity's keys match another's prefix (an id holds no ':'). Refused, naming the
    /// entity, when a prefix made so would be no valid prefix (too long).
    pub fn with_overrides(
        mut self,
        key_prefix: Option<&KeyPrefix>,
        batch_ttl_seconds: Option<u64>,
        streaming_ttl_seconds: Option<u64>,
    ) -> Result<Registry, String> {
        if let Some(prefix) = key_prefix {
            let stem = prefix.as_str().trim_end_matches(':');
            for (at, entity) in self.entities.iter_mut().enumerate() {
                entity.key_prefix = match at {
                    0 => prefix.clone(),
                    _ => KeyPrefix::parse(&format!("{stem}.{}:", entity.name)).map_err(|rule| {
                        format!("entity {:?}'s prefix, made from it, {rule}", entity.name)
                    })?,
                };
            }
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
        Ok(self)
    }

    /// The first entity: the one the UI, the index and the worker serve (the loader refuses a
    /// registry without one).
    pub fn entity(&self) -> &EntityDef {
        &self.entities[0]
    }

    /// The first entity's key prefix.
    pub fn key_prefix(&self) -> &KeyPrefix {
        &self.entity().key_prefix
    }

    /// The entity a view's features are stored under, and its position (the loader checks
    /// that every view names one of the registry's entities; the first otherwise).
    pub fn entity_of(&self, view: &View) -> (usize, &EntityDef) {
        self.entities
            .iter()
            .enumerate()
            .find(|(_, e)| e.name == view.entity)
            .unwrap_or((0, self.entity()))
    }

    /// This registry narrowed to one entity: its views, and no services. What serves a single
    /// entity (a store's TTLs, the synthesizer, the worker, the UI's panels) reads this.
    pub fn of_entity(&self, entity: &EntityDef) -> Registry {
        Registry {
            entities: vec![entity.clone()],
            views: self
                .views
                .iter()
                .filter(|v| v.entity == entity.name)
                .cloned()
                .collect(),
            services: Vec::new(),
            lookup: Lookup::default(),
        }
    }

    /// Every feature with its view, views in file order.
    pub fn features(&self) -> impl Iterator<Item = (&View, &Feature)> {
        self.views
            .iter()
            .flat_map(|view| view.features.iter().map(move |f| (view, f)))
    }

    /// A feature by its name, unique across the views of an entity (the first match across
    /// entities; narrow the registry with `of_entity` first).
    pub fn find(&self, name: &str) -> Option<(&View, &Feature)> {
        self.features().find(|(_, f)| f.name == name)
    }

    fn maps(&self) -> &Maps {
        self.lookup.0.get_or_init(|| Maps::of(self))
    }

    pub fn view(&self, name: &str) -> Option<&View> {
        Some(&self.views[*self.maps().views.get(name)?])
    }

    /// The view and feature of a `view:feature` reference.
    pub fn reference(&self, reference: &str) -> Option<(&View, &Feature)> {
        let (v, f) = *self.maps().features.get(reference)?;
        Some((&self.views[v], &self.views[v].features[f]))
    }

    pub fn service(&self, name: &str) -> Option<&FeatureService> {
        self.services.iter().find(|s| s.name == name)
    }

    /// A service's features with their views, in its order.
    pub fn service_features(&self, name: &str) -> Option<Vec<(&View, &Feature)>> {
        let at = self.maps().services.get(name)?;
        Some(
            at.iter()
                .map(|&(v, f)| (&self.views[v], &self.views[v].features[f]))
                .collect(),
        )
    }

    /// The fields a full row of the entity at `entity` (its position) holds in its hash: every
    /// view's features and times.
    pub fn row_fields(&self, entity: usize) -> usize {
        self.maps().row_fields.get(entity).copied().unwrap_or(0)
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
