//! `flowd import contacts FILE`: contacts from CSV or YAML, upserted in
//! batches of one transaction each, with a report of every rejected row.
//!
//! CSV has a header row that names the columns. They are `name`,
//! `company`, `email`, `phone` or `phones` (numbers separated by `;`),
//! `language`, `vip`, `external_id` and the custom fields of `crm.fields`.
//! YAML is a list of maps with the same keys, where `phones` may also be a
//! list.

use super::{BUILTIN_COLUMNS, ContactInput, CrmSchema, parse_bool};
use crate::store::{NewContact, Store, StoreError, Upserted};
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

/// Contacts written per transaction.
pub const BATCH_SIZE: usize = 1000;

/// A file that could not be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be opened or read.
    #[error("cannot read `{path}`: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: String,
    },
    /// The file's name does not say its format.
    #[error("cannot tell the format of `{0}`: name the file `.csv`, `.yaml` or `.yml`")]
    Format(PathBuf),
    /// The database failed.
    #[error("cannot write the contacts: {0}")]
    Store(#[from] StoreError),
}

/// A row that was not imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// The row's place: `line 7` in CSV, `item 3` in YAML.
    pub place: String,
    /// The reason it was rejected.
    pub reason: String,
}

/// The counts and rejected rows of an import.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// New contacts.
    pub imported: usize,
    /// Existing contacts updated.
    pub updated: usize,
    /// Rows not imported, in file order.
    pub rejected: Vec<Rejected>,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "imported {}, updated {}, rejected {}",
            self.imported,
            self.updated,
            self.rejected.len()
        )?;
        for rejected in &self.rejected {
            writeln!(f, "{}: {}", rejected.place, rejected.reason)?;
        }
        Ok(())
    }
}

/// Imports the contacts of a `.csv`, `.yaml` or `.yml` file.
pub async fn import_contacts(
    store: &Store,
    schema: &CrmSchema,
    path: &Path,
) -> Result<ImportReport, ImportError> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let mut importer = Importer::new(store, schema);
    match extension.as_deref() {
        Some("csv") => import_csv(&mut importer, path).await?,
        Some("yaml" | "yml") => import_yaml(&mut importer, path).await?,
        _ => return Err(ImportError::Format(path.to_path_buf())),
    }
    importer.flush().await?;
    Ok(importer.report)
}

async fn import_csv(importer: &mut Importer<'_>, path: &Path) -> Result<(), ImportError> {
    let read_error = |error: &dyn fmt::Display| ImportError::Read {
        path: path.to_path_buf(),
        error: error.to_string(),
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| read_error(&e))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| read_error(&e))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if headers.iter().all(String::is_empty) {
        return Err(read_error(
            &"the header row is empty; the first row names the columns, such as `name,phone,email`",
        ));
    }
    let mut lines = LineCounter::open(path).map_err(|e| read_error(&e))?;
    let mut record = csv::StringRecord::new();
    loop {
        let start = reader.position().byte();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => match error.kind() {
                csv::ErrorKind::Io(_) => return Err(read_error(&error)),
                _ => {
                    let byte = error.position().map_or(start, csv::Position::byte);
                    let line = lines.line_at(byte).map_err(|e| read_error(&e))?;
                    importer.reject(format!("line {line}"), format!("unreadable row: {error}"));
                    continue;
                }
            },
        }
        let byte = record.position().map_or(start, csv::Position::byte);
        let line = lines.line_at(byte).map_err(|e| read_error(&e))?;
        let place = format!("line {line}");
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() > headers.len() {
            importer.reject(
                place,
                format!(
                    "the row has {} cells and the header names {} columns; quote cells that contain commas",
                    record.len(),
                    headers.len()
                ),
            );
            continue;
        }
        let cells = headers
            .iter()
            .zip(record.iter())
            .map(|(h, c)| (h.as_str(), Json::String(c.to_string())));
        importer.add(place, cells).await?;
    }
    Ok(())
}

/// The physical line of a byte offset in a file, counted by reading the
/// file once alongside the CSV reader. The csv crate's own line numbers
/// skip blank lines and count CRLF files differently, so a report would
/// point at the wrong row.
struct LineCounter {
    reader: std::io::BufReader<std::fs::File>,
    offset: u64,
    line: u64,
}

impl LineCounter {
    fn open(path: &Path) -> std::io::Result<LineCounter> {
        Ok(LineCounter {
            reader: std::io::BufReader::new(std::fs::File::open(path)?),
            offset: 0,
            line: 1,
        })
    }

    /// Returns the line of the record that starts at `byte`; offsets must
    /// not decrease.
    fn line_at(&mut self, byte: u64) -> std::io::Result<u64> {
        use std::io::BufRead;
        while self.offset < byte {
            let buffer = self.reader.fill_buf()?;
            if buffer.is_empty() {
                break;
            }
            let wanted = usize::try_from(byte - self.offset).unwrap_or(usize::MAX);
            let taken = buffer.len().min(wanted);
            let chunk = buffer.get(..taken).unwrap_or_default();
            self.line += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
            self.offset += taken as u64;
            self.reader.consume(taken);
        }
        // The csv crate may place a record at the line ends before it
        // (the `\n` of a CRLF, blank lines); the record starts after them.
        loop {
            let buffer = self.reader.fill_buf()?;
            match buffer.first() {
                Some(b'\n') => self.line += 1,
                Some(b'\r') => {}
                _ => break,
            }
            self.offset += 1;
            self.reader.consume(1);
        }
        Ok(self.line)
    }
}

async fn import_yaml(importer: &mut Importer<'_>, path: &Path) -> Result<(), ImportError> {
    // TODO: stream YAML item by item; the whole list is read into memory.
    let text = std::fs::read_to_string(path).map_err(|error| ImportError::Read {
        path: path.to_path_buf(),
        error: error.to_string(),
    })?;
    let items: Option<Vec<Json>> =
        serde_saphyr::from_str(&text).map_err(|error| ImportError::Read {
            path: path.to_path_buf(),
            error: format!("{error}; write a list of maps such as `- name: Ana Novak`"),
        })?;
    for (index, item) in items.unwrap_or_default().into_iter().enumerate() {
        let place = format!("item {}", index + 1);
        let Json::Object(map) = item else {
            importer.reject(
                place,
                format!("the item is {item}, not a map; write keys such as `name:` and `phone:`"),
            );
            continue;
        };
        let cells: Vec<(String, Json)> = map
            .into_iter()
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v))
            .collect();
        importer
            .add(place, cells.iter().map(|(k, v)| (k.as_str(), v.clone())))
            .await?;
    }
    Ok(())
}

/// The rows read so far and the batch waiting to be written.
struct Importer<'a> {
    store: &'a Store,
    schema: &'a CrmSchema,
    report: ImportReport,
    batch: Vec<(String, NewContact)>,
    /// The place each phone and external id was first seen, to reject
    /// later rows that repeat it.
    seen: HashMap<String, String>,
}

impl<'a> Importer<'a> {
    fn new(store: &'a Store, schema: &'a CrmSchema) -> Importer<'a> {
        Importer {
            store,
            schema,
            report: ImportReport::default(),
            batch: Vec::with_capacity(BATCH_SIZE),
            seen: HashMap::new(),
        }
    }

    fn reject(&mut self, place: String, reason: String) {
        self.report.rejected.push(Rejected { place, reason });
    }

    async fn add<'c>(
        &mut self,
        place: String,
        cells: impl Iterator<Item = (&'c str, Json)>,
    ) -> Result<(), ImportError> {
        let (input, mut problems) = read_row(self.schema, cells);
        let contact = match self.schema.contact(&input) {
            Ok(contact) if problems.is_empty() => contact,
            Ok(_) => {
                self.reject(place, problems.join("; "));
                return Ok(());
            }
            Err(more) => {
                problems.extend(more);
                self.reject(place, problems.join("; "));
                return Ok(());
            }
        };
        let mut keys: Vec<(String, String)> = contact
            .phones
            .iter()
            .map(|p| (format!("phone {p}"), format!("phone:{p}")))
            .collect();
        if let Some(id) = &contact.external_id {
            keys.push((format!("external_id `{id}`"), format!("external_id:{id}")));
        }
        if let Some(duplicate) = keys
            .iter()
            .find_map(|(what, key)| self.seen.get(key).map(|first| (what, first)))
        {
            let (what, first) = duplicate;
            let reason = format!(
                "duplicate of {first} in this file (same {what}); keep one of the two rows"
            );
            self.reject(place, reason);
            return Ok(());
        }
        for (_, key) in keys {
            self.seen.insert(key, place.clone());
        }
        self.batch.push((place, contact));
        if self.batch.len() >= BATCH_SIZE {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ImportError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let contacts: Vec<NewContact> = batch.iter().map(|(_, c)| c.clone()).collect();
        let results = self.store.upsert_contacts(&contacts).await?;
        for ((place, _), result) in batch.into_iter().zip(results) {
            match result {
                Ok(Upserted::Created(_)) => self.report.imported += 1,
                Ok(Upserted::Updated(_)) => self.report.updated += 1,
                Err(error) => self.reject(place, error.to_string()),
            }
        }
        Ok(())
    }
}

/// Reads one row's cells into a contact as written, with the problems
/// found on the way: unknown columns with a value, invalid `vip` values
/// and unquoted YAML phone numbers. Empty cells are skipped.
fn read_row<'c>(
    schema: &CrmSchema,
    cells: impl Iterator<Item = (&'c str, Json)>,
) -> (ContactInput, Vec<String>) {
    let mut input = ContactInput::default();
    let mut fields = BTreeMap::new();
    let mut problems = Vec::new();
    for (column, value) in cells {
        if matches!(&value, Json::Null) || matches!(&value, Json::String(s) if s.trim().is_empty())
        {
            continue;
        }
        match column {
            "name" => input.name = Some(scalar_text(&value)),
            "company" => input.company = Some(scalar_text(&value)),
            "email" => input.email = Some(scalar_text(&value)),
            "language" => input.language = Some(scalar_text(&value)),
            "external_id" => input.external_id = Some(scalar_text(&value)),
            "phone" | "phones" => match phone_list(&value) {
                Ok(phones) => input.phones.extend(phones),
                Err(problem) => problems.push(problem),
            },
            "vip" => match &value {
                Json::Bool(flag) => input.vip = Some(*flag),
                other => match parse_bool(&scalar_text(other)) {
                    Some(flag) => input.vip = Some(flag),
                    None => problems.push(format!(
                        "invalid vip `{}`: write `true` or `false`",
                        scalar_text(other)
                    )),
                },
            },
            column if schema.fields.contains_key(column) => {
                fields.insert(column.to_string(), value);
            }
            column => {
                let known: Vec<&str> = BUILTIN_COLUMNS
                    .iter()
                    .copied()
                    .filter(|c| *c != "fields")
                    .chain(schema.fields.keys().map(String::as_str))
                    .collect();
                problems.push(format!(
                    "unknown column `{column}`; use {} or declare it under `crm.fields` in tok.yaml",
                    known.join(", ")
                ));
            }
        }
    }
    input.fields = fields;
    (input, problems)
}

fn scalar_text(value: &Json) -> String {
    match value {
        Json::String(text) => text.trim().to_string(),
        other => other.to_string(),
    }
}

/// Reads `phones` as a list or as numbers separated by `;`.
fn phone_list(value: &Json) -> Result<Vec<String>, String> {
    match value {
        Json::Array(items) => items.iter().map(phone_text).collect(),
        other => Ok(phone_text(other)?
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()),
    }
}

/// Reads one phone cell. YAML reads an unquoted `+38615550100` as the
/// integer 38615550100, which has lost its prefix, so a number is rejected.
fn phone_text(value: &Json) -> Result<String, String> {
    match value {
        Json::Number(number) => Err(format!(
            "phone {number} was read as a YAML number, which drops a leading `+` or `0`; quote it, as in `phone: \"+38615550100\"`"
        )),
        other => Ok(scalar_text(other)),
    }
}
