//! A source's files: found by its path or glob, checked for the columns a view needs when the
//! registry is loaded, and read as Arrow record batches, one batch at a time, of only the
//! columns needed.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use crate::registry::{Source, View};

/// How a file is read, from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Parquet,
    Csv,
}

fn format_of(path: &Path) -> Result<Format, String> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("parquet" | "pq") => Ok(Format::Parquet),
        Some("csv") => Ok(Format::Csv),
        _ => Err(format!(
            "{}: a source file must end in .parquet or .csv",
            path.display()
        )),
    }
}

/// The files a source names, in name order; an error when there are none.
pub(crate) fn resolve(source: &Source) -> Result<Vec<PathBuf>, String> {
    let pattern = &source.path;
    let mut files: Vec<PathBuf> = glob::glob(pattern)
        .map_err(|e| format!("source path {pattern:?} is not a valid glob: {e}"))?
        .filter_map(Result::ok)
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("source path {pattern:?} matches no file"));
    }
    Ok(files)
}

/// The rows of `files` by their metadata: known for Parquet files, not for CSV.
pub(crate) fn row_count(files: &[PathBuf]) -> Option<u64> {
    files.iter().try_fold(0, |total, path| {
        if format_of(path).ok()? != Format::Parquet {
            return None;
        }
        let rows = parquet_reader(path)
            .ok()?
            .metadata()
            .file_metadata()
            .num_rows();
        Some(total + u64::try_from(rows).ok()?)
    })
}

/// The columns a view's rows are read from: the entity's, the event time's, the created
/// time's if any, then each feature's.
pub(crate) fn needed_columns<'a>(source: &'a Source, view: &'a View) -> Vec<&'a str> {
    let mut columns = vec![
        source.entity_column.as_str(),
        source.timestamp_column.as_str(),
    ];
    columns.extend(source.created_column.as_deref());
    columns.extend(view.features.iter().map(|f| source.column_of(&f.name)));
    columns
}

/// Checks, when the registry is loaded, that every file of `source` can be read and has every
/// column `view` needs: a missing one is named now, not at the first materialization.
pub(crate) fn check(source: &Source, view: &View) -> Result<(), String> {
    for name in source.columns.keys() {
        if view.feature(name).is_none() {
            return Err(format!(
                "source columns name {name:?}, which is no feature of view {:?}",
                view.name
            ));
        }
    }
    for file in resolve(source)? {
        let present = column_names(&file)?;
        for column in needed_columns(source, view) {
            if !present.iter().any(|p| p == column) {
                return Err(format!("{} has no column {column:?}", file.display()));
            }
        }
    }
    Ok(())
}

fn column_names(path: &Path) -> Result<Vec<String>, String> {
    let names = |schema: &Schema| schema.fields().iter().map(|f| f.name().clone()).collect();
    match format_of(path)? {
        Format::Parquet => Ok(names(parquet_reader(path)?.schema())),
        Format::Csv => Ok(names(&csv_header(path)?)),
    }
}

fn parquet_reader(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| format!("{}: not a readable Parquet file: {e}", path.display()))
}

/// A CSV file's header, every column read as text (the registry's types convert it).
fn csv_header(path: &Path) -> Result<Schema, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (schema, _) = arrow_csv::reader::Format::default()
        .with_header(true)
        .infer_schema(file, Some(0))
        .map_err(|e| format!("{}: not a readable CSV header: {e}", path.display()))?;
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), DataType::Utf8, true))
        .collect();
    Ok(Schema::new(fields))
}

/// The record batches of one file, `batch_rows` rows at most each, of the `columns` asked for.
pub(crate) fn batches(
    path: &Path,
    columns: &[&str],
    batch_rows: usize,
) -> Result<Box<dyn Iterator<Item = Result<RecordBatch, String>> + Send>, String> {
    let shown = path.display().to_string();
    let failed = move |e: arrow_schema::ArrowError| format!("{shown}: {e}");
    match format_of(path)? {
        Format::Parquet => {
            let builder = parquet_reader(path)?;
            let roots = positions(builder.schema(), columns);
            let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
            let reader = builder
                .with_projection(mask)
                .with_batch_size(batch_rows)
                .build()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(Box::new(reader.map(move |batch| batch.map_err(&failed))))
        }
        Format::Csv => {
            let schema = Arc::new(csv_header(path)?);
            let projection = positions(&schema, columns);
            let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let reader = arrow_csv::ReaderBuilder::new(schema)
                .with_header(true)
                .with_batch_size(batch_rows)
                .with_projection(projection)
                .build(file)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(Box::new(reader.map(move |batch| batch.map_err(&failed))))
        }
    }
}

/// Where `columns` sit among a file's top-level columns.
fn positions(schema: &Schema, columns: &[&str]) -> Vec<usize> {
    schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| columns.contains(&f.name().as_str()))
        .map(|(at, _)| at)
        .collect()
}
