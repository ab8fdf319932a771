//! The rules a registry file must keep, each refusal with the offset of what broke it (the
//! caller turns it into a line number).

use std::collections::HashSet;
use std::path::Path;

use toml::Spanned;

use super::{RawEntity, RawService, RawSource, RawView};
use crate::domain::{FeatureName, KeyPrefix};
use crate::limits::MAX_TTL_SECONDS;
use crate::materialize;
use crate::registry::Source;
use crate::registry::{EntityDef, Feature, FeatureService, View, STAMP_PREFIX};
use crate::schema::{encode, Draw, FeatureKind, ValueType};

pub(super) type Refusal = (usize, String);

/// The most features of one kind: a write of that kind passes all of them, with two times per
/// view, to one script, and Redis's Lua unpacks at most about 8,000 values.
const MAX_FEATURES_PER_KIND: usize = 1_000;

/// At least one entity; names and join keys unique; no key prefix a prefix of another, so
/// one entity's SCAN never walks another's keys.
pub(super) fn check_entities(raw: Vec<Spanned<RawEntity>>) -> Result<Vec<EntityDef>, Refusal> {
    if raw.is_empty() {
        return Err((0, "[[entities]] must list at least one entity".into()));
    }
    let mut entities: Vec<EntityDef> = Vec::with_capacity(raw.len());
    for spanned in &raw {
        let entity = check_entity(spanned.get_ref())?;
        let at = spanned.span().start;
        for other in &entities {
            if other.name == entity.name || other.join_key == entity.join_key {
                return Err((
                    at,
                    format!(
                        "entities {:?} and {:?} share a name or a join key",
                        other.name, entity.name
                    ),
                ));
            }
            let (a, b) = (other.key_prefix.as_str(), entity.key_prefix.as_str());
            if a.starts_with(b) || b.starts_with(a) {
                return Err((at, format!("key prefixes {a:?} ({}) and {b:?} ({}) overlap: each entity's keys must be its own", other.name, entity.name)));
            }
        }
        entities.push(entity);
    }
    Ok(entities)
}

fn check_entity(raw: &RawEntity) -> Result<EntityDef, Refusal> {
    for (field, value) in [("name", &raw.name), ("join_key", &raw.join_key)] {
        identifier(value).map_err(|rule| (value.span().start, format!("entity {field} {rule}")))?;
    }
    let key_prefix = KeyPrefix::parse(raw.key_prefix.get_ref()).map_err(|rule| {
        (
            raw.key_prefix.span().start,
            format!("entity key_prefix {rule}"),
        )
    })?;
    Ok(EntityDef {
        name: raw.name.get_ref().clone(),
        join_key: raw.join_key.get_ref().clone(),
        key_prefix,
    })
}

/// Letters, digits, `_` and `-`, not empty: safe in a `view:feature` reference and a URL.
fn identifier(value: &Spanned<String>) -> Result<(), String> {
    let name = value.get_ref();
    if name.is_empty() || name.len() > 128 {
        return Err(format!("{name:?} must be 1 to 128 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "{name:?} may hold only letters, digits, '_' and '-'"
        ));
    }
    Ok(())
}

/// Each service: a unique name and at least one feature, each `view:feature` of the registry
/// or a view's name (all its features, in order); a feature listed twice is refused.
pub(super) fn check_services(
    raw: Vec<RawService>,
    views: &[View],
) -> Result<Vec<FeatureService>, Refusal> {
    let mut services: Vec<FeatureService> = Vec::with_capacity(raw.len());
    for service in raw {
        let name = &service.name;
        identifier(name).map_err(|rule| (name.span().start, format!("service name {rule}")))?;
        if services.iter().any(|s| s.name == *name.get_ref()) {
            return Err((
                name.span().start,
                format!("service {:?} is defined twice", name.get_ref()),
            ));
        }
        if service.features.is_empty() {
            return Err((
                name.span().start,
                format!("service {:?} has no features", name.get_ref()),
            ));
        }
        let mut features: Vec<String> = Vec::new();
        for reference in &service.features {
            let at = reference.span().start;
            let (view_name, feature) = match reference.get_ref().split_once(':') {
                Some((view, feature)) => (view, Some(feature)),
                None => (reference.get_ref().as_str(), None),
            };
            let Some(view) = views.iter().find(|v| v.name == view_name) else {
                return Err((
                    at,
                    format!("service {:?}: no view {view_name:?}", name.get_ref()),
                ));
            };
            let named: Vec<&Feature> = match feature {
                None => view.features.iter().collect(),
                Some(feature) => match view.feature(feature) {
                    Some(feature) => vec![feature],
                    None => {
                        return Err((
                            at,
                            format!(
                                "service {:?}: view {view_name:?} has no feature {feature:?}",
                                name.get_ref()
                            ),
                        ))
                    }
                },
            };
            for feature in named {
                let reference = format!("{}:{}", view.name, feature.name);
                if features.contains(&reference) {
                    return Err((
                        at,
                        format!("service {:?} lists {reference} twice", name.get_ref()),
                    ));
                }
                features.push(reference);
            }
        }
        services.push(FeatureService {
            name: name.get_ref().clone(),
            features,
        });
    }
    Ok(services)
}

/// What the views of one entity share: one hash, so one key TTL and one name per field.
#[derive(Default)]
struct PerEntity {
    feature_names: HashSet<String>,
    ttls: [Option<u64>; 2],
    features_of_kind: [usize; 2],
}

pub(super) fn check_views(
    raw: Vec<RawView>,
    entities: &[EntityDef],
    base: &Path,
) -> Result<Vec<View>, Refusal> {
    let mut views = Vec::with_capacity(raw.len());
    let mut view_names = HashSet::new();
    let mut push_sources = HashSet::new();
    let mut per_entity: Vec<PerEntity> = entities.iter().map(|_| PerEntity::default()).collect();
    for view in raw {
        let name = &view.name;
        identifier(name).map_err(|rule| (name.span().start, format!("view name {rule}")))?;
        if !view_names.insert(name.get_ref().clone()) {
            return Err((
                name.span().start,
                format!("view {:?} is defined twice", name.get_ref()),
            ));
        }
        let at_entity = match &view.entity {
            None if entities.len() == 1 => 0,
            None => {
                return Err((
                    name.span().start,
                    format!(
                        "view {:?} must name its entity (entity = \"…\"): the registry has several",
                        name.get_ref()
                    ),
                ))
            }
            Some(entity) => entities
                .iter()
                .position(|e| e.name == *entity.get_ref())
                .ok_or_else(|| {
                    (
                        entity.span().start,
                        format!(
                            "view {:?}: no entity {:?}",
                            name.get_ref(),
                            entity.get_ref()
                        ),
                    )
                })?,
        };
        let entity = &entities[at_entity];
        let PerEntity {
            feature_names,
            ttls,
            features_of_kind,
        } = &mut per_entity[at_entity];
        let kind = *view.kind.get_ref();
        let ttl = *view.ttl_seconds.get_ref();
        if !(1..=MAX_TTL_SECONDS).contains(&ttl) {
            return Err((
                view.ttl_seconds.span().start,
                format!("ttl_seconds must be from 1 to {MAX_TTL_SECONDS} (100 years)"),
            ));
        }
        let shared = &mut ttls[kind as usize];
        match *shared {
            Some(other) if other != ttl => {
                let why = match kind {
                    FeatureKind::Batch => "a hash has one key TTL",
                    FeatureKind::Streaming => "the worker and /push write them in one HSETEX",
                };
                return Err((
                    view.ttl_seconds.span().start,
                    format!("every {} view of entity {:?} must have the same ttl_seconds ({why}): {other} before, {ttl} here", kind.label(), entity.name),
                ));
            }
            _ => *shared = Some(ttl),
        }
        if let Some(source) = &view.push_source {
            identifier(source)
                .map_err(|rule| (source.span().start, format!("push_source {rule}")))?;
            if !push_sources.insert(source.get_ref().clone()) {
                return Err((
                    source.span().start,
                    format!("push source {:?} feeds two views", source.get_ref()),
                ));
            }
        }
        if view.features.get_ref().is_empty() {
            return Err((
                view.features.span().start,
                format!("view {:?} has no features", name.get_ref()),
            ));
        }
        let mut features = Vec::new();
        for feature in view.features.into_inner() {
            let at = feature.name.span().start;
            let feature_name = feature.name.into_inner();
            FeatureName::parse(&feature_name)
                .map_err(|rule| (at, format!("feature name {rule}")))?;
            if feature_name.starts_with('_') || feature_name.contains(':') {
                return Err((at, format!("feature {feature_name:?} must not start with '_' (reserved for {STAMP_PREFIX}<view>) nor contain ':'")));
            }
            if !feature_names.insert(feature_name.clone()) {
                return Err((at, format!("feature {feature_name:?} is in two views: an entity's hash holds one field per name")));
            }
            features_of_kind[kind as usize] += 1;
            if features_of_kind[kind as usize] > MAX_FEATURES_PER_KIND {
                return Err((at, format!("more than {MAX_FEATURES_PER_KIND} {} features: one write carries them all, and Redis's Lua cannot unpack so many values", kind.label())));
            }
            if let Some(draw) = &feature.draw {
                check_draw(draw.get_ref(), feature.value_type).map_err(|rule| {
                    (
                        draw.span().start,
                        format!("feature {feature_name:?}: draw {rule}"),
                    )
                })?;
            }
            features.push(Feature {
                name: feature_name,
                value_type: feature.value_type,
                read_by_default: feature.read_by_default,
                batch_read_by_default: feature.batch_read_by_default,
                draw: feature.draw.map(Spanned::into_inner),
            });
        }
        let mut checked = View {
            name: view.name.into_inner(),
            entity: entity.name.clone(),
            kind,
            ttl_seconds: ttl,
            push_source: view.push_source.map(Spanned::into_inner),
            source: None,
            features,
        };
        if let Some(raw) = view.source {
            let at = raw.span().start;
            let source = source(raw.into_inner(), &entity.join_key, base);
            if kind != FeatureKind::Batch {
                return Err((at, format!("view {:?}: only a batch view has a source to materialize (a streaming view is pushed to)", checked.name)));
            }
            materialize::check(&source, &checked)
                .map_err(|rule| (at, format!("view {:?} source: {rule}", checked.name)))?;
            checked.source = Some(source);
        }
        views.push(checked);
    }
    for (entity, seen) in entities.iter().zip(&per_entity) {
        if seen.ttls[FeatureKind::Batch as usize].is_none() {
            return Err((0, format!("entity {:?} needs at least one view of kind \"batch\": only the batch path creates an entity, with its key TTL", entity.name)));
        }
    }
    Ok(views)
}

/// A draw the synthesizer can always make, of values of the feature's type.
fn check_draw(draw: &Draw, value_type: ValueType) -> Result<(), String> {
    let fits = |value: &str| {
        let json = match value_type {
            ValueType::String => serde_json::Value::from(value),
            _ => serde_json::from_str(value).unwrap_or(serde_json::Value::Null),
        };
        encode(value_type, &json).is_some()
    };
    match draw {
        Draw::OneOf(values) if values.is_empty() => Err("one_of needs at least one value".into()),
        Draw::Weighted(values) if values.iter().all(|(_, weight)| *weight == 0) => {
            Err("weighted needs a value with a weight above 0".into())
        }
        Draw::Between(low, high) => match value_type {
            _ if !(low.is_finite() && high.is_finite() && low <= high) => Err(format!(
                "between [{low}, {high}] needs finite bounds, the lower first"
            )),
            ValueType::Int if low.fract() != 0.0 || high.fract() != 0.0 => {
                Err("between of an int feature takes whole bounds".into())
            }
            ValueType::Int | ValueType::Float => Ok(()),
            other => Err(format!("between draws numbers, not {}", other.rule())),
        },
        Draw::OneOf(values) => match values.iter().find(|value| !fits(value)) {
            Some(value) => Err(format!("value {value:?} is not a {}", value_type.rule())),
            None => Ok(()),
        },
        Draw::Weighted(values) => match values.iter().find(|(value, _)| !fits(value)) {
            Some((value, _)) => Err(format!("value {value:?} is not a {}", value_type.rule())),
            None => Ok(()),
        },
    }
}

/// A source as the file gives it, its defaults filled in and its path made absolute against
/// the registry file's directory (as Feast reads a repo's paths against the repo).
fn source(raw: RawSource, join_key: &str, base: &Path) -> Source {
    let path = if Path::new(&raw.path).is_absolute() {
        raw.path
    } else {
        base.join(&raw.path).to_string_lossy().into_owned()
    };
    Source {
        path,
        entity_column: raw.entity_column.unwrap_or_else(|| join_key.to_owned()),
        timestamp_column: raw.timestamp_column,
        created_column: raw.created_column,
        columns: raw.columns,
    }
}
