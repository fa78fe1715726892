//! `flowd import agents FILE`: agents from CSV or YAML, upserted one by
//! one, with a report of every rejected row and its physical line.
//!
//! CSV has a header row naming the columns `id`, `name`, `password`,
//! `sip_user`, `uri`, `skills` (`routers:2;sales:1`), `languages`
//! (`en;sl`), `teams` (`;`-separated) and `enabled` (`true` or `false`);
//! only `id` is required. YAML is a list of maps with the same keys, or a
//! map whose `agents:` key contains that list; there `skills` may be a map
//! and `languages` and `teams` lists. A missing or empty `password` keeps
//! the stored one.

use super::AgentSchema;
use crate::store::{NewAgent, Store, StoreError, check_agent};
use serde_json::Value as Json;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

/// The columns an agent file may have.
pub const COLUMNS: [&str; 9] = [
    "id",
    "name",
    "password",
    "sip_user",
    "uri",
    "skills",
    "languages",
    "teams",
    "enabled",
];

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
    #[error("cannot write the agents: {0}")]
    Store(#[from] StoreError),
}

/// A row that was not imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// The physical line the row or YAML item starts on, from 1.
    pub line: u64,
    /// The reason it was rejected.
    pub reason: String,
}

/// The counts and rejected rows of an import.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// New agents.
    pub imported: usize,
    /// Existing agents updated.
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
            writeln!(f, "line {}: {}", rejected.line, rejected.reason)?;
        }
        Ok(())
    }
}

/// Imports the agents of a `.csv`, `.yaml` or `.yml` file.
pub async fn import_agents(
    store: &Store,
    schema: &AgentSchema,
    path: &Path,
) -> Result<ImportReport, ImportError> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let read_error = |error: &dyn fmt::Display| ImportError::Read {
        path: path.to_path_buf(),
        error: error.to_string(),
    };
    let rows = match extension.as_deref() {
        Some("csv") => {
            let bytes = std::fs::read(path).map_err(|e| read_error(&e))?;
            read_csv(&bytes).map_err(|e| read_error(&e))?
        }
        Some("yaml" | "yml") => {
            let text = std::fs::read_to_string(path).map_err(|e| read_error(&e))?;
            read_yaml(&text).map_err(|e| read_error(&e))?
        }
        _ => return Err(ImportError::Format(path.to_path_buf())),
    };
    let mut importer = Importer {
        store,
        schema,
        report: ImportReport::default(),
        seen: HashMap::new(),
    };
    for row in rows {
        importer.add(row).await?;
    }
    tracing::info!(
        file = %path.display(),
        imported = importer.report.imported,
        updated = importer.report.updated,
        rejected = importer.report.rejected.len(),
        "agents imported"
    );
    Ok(importer.report)
}

/// One row of the file: its line and its cells, or why it is unreadable.
struct Row {
    line: u64,
    cells: Result<Vec<(String, Json)>, String>,
}

/// Reads the rows of a CSV file with their physical lines. The csv
/// crate's own line numbers skip blank lines and count CRLF files
/// differently, so lines are counted from each record's byte offset.
fn read_csv(bytes: &[u8]) -> Result<Vec<Row>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if !headers.iter().any(|h| h == "id") {
        return Err(format!(
            "the header row has no `id` column; the first row names the columns, such as `{}`",
            COLUMNS.join(",")
        ));
    }
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let start = reader.position().byte();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => {
                if let csv::ErrorKind::Io(_) = error.kind() {
                    return Err(error.to_string());
                }
                let byte = error.position().map_or(start, csv::Position::byte);
                rows.push(Row {
                    line: line_at(bytes, byte),
                    cells: Err(format!("unreadable row: {error}")),
                });
                continue;
            }
        }
        let byte = record.position().map_or(start, csv::Position::byte);
        let line = line_at(bytes, byte);
        if record.iter().all(str::is_empty) {
            continue;
        }
        let cells = if record.len() > headers.len() {
            Err(format!(
                "the row has {} cells and the header names {} columns; quote cells that contain commas",
                record.len(),
                headers.len()
            ))
        } else {
            Ok(headers
                .iter()
                .zip(record.iter())
                .map(|(h, c)| (h.clone(), Json::String(c.to_string())))
                .collect())
        };
        rows.push(Row { line, cells });
    }
    Ok(rows)
}

/// Returns the line of the record that the csv crate places at `byte`:
/// line ends right at that offset (the `\n` of a CRLF, blank lines) come
/// before the record.
fn line_at(bytes: &[u8], byte: u64) -> u64 {
    let mut offset = usize::try_from(byte).unwrap_or(usize::MAX).min(bytes.len());
    let before = bytes.get(..offset).unwrap_or_default();
    let mut line = 1 + before.iter().filter(|&&b| b == b'\n').count() as u64;
    while let Some(&b) = bytes.get(offset) {
        match b {
            b'\n' => line += 1,
            b'\r' => {}
            _ => break,
        }
        offset += 1;
    }
    line
}

/// The shape of a YAML agent file, read once without spans.
#[derive(serde::Deserialize)]
struct Wrapped {
    agents: Option<Vec<Spanned<Json>>>,
}

/// Reads the items of a YAML file with the lines they start on.
fn read_yaml(text: &str) -> Result<Vec<Row>, String> {
    let hint = "write a list of maps such as `- id: ana`, or put the list under `agents:`";
    let shape: Option<Json> =
        serde_saphyr::from_str(text).map_err(|error| format!("{error}; {hint}"))?;
    let items: Vec<Spanned<Json>> = match shape {
        None => Vec::new(),
        Some(Json::Array(_)) => {
            serde_saphyr::from_str(text).map_err(|error| format!("{error}; {hint}"))?
        }
        Some(Json::Object(map)) if map.contains_key("agents") => {
            let wrapped: Wrapped =
                serde_saphyr::from_str(text).map_err(|error| format!("{error}; {hint}"))?;
            wrapped.agents.unwrap_or_default()
        }
        Some(_) => return Err(format!("the file contains no list of agents; {hint}")),
    };
    let rows = items
        .into_iter()
        .map(|item| {
            let line = item.referenced.line();
            let cells = match item.value {
                Json::Object(map) => Ok(map
                    .into_iter()
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v))
                    .collect()),
                other => Err(format!(
                    "the item is {other}, not a map; write keys such as `id:` and `name:`"
                )),
            };
            Row { line, cells }
        })
        .collect();
    Ok(rows)
}

/// The report so far and the ids already read.
struct Importer<'a> {
    store: &'a Store,
    schema: &'a AgentSchema,
    report: ImportReport,
    /// The line each agent id was first seen on, to reject later rows
    /// that repeat it.
    seen: HashMap<String, u64>,
}

impl Importer<'_> {
    fn reject(&mut self, line: u64, reason: String) {
        self.report.rejected.push(Rejected { line, reason });
    }

    async fn add(&mut self, row: Row) -> Result<(), ImportError> {
        let line = row.line;
        let cells = match row.cells {
            Ok(cells) => cells,
            Err(reason) => {
                self.reject(line, reason);
                return Ok(());
            }
        };
        let (agent, mut problems) = read_agent(cells);
        if let Err(more) = check_agent(&agent) {
            problems.extend(more);
        }
        problems.extend(self.schema.check_skills(&agent));
        if !problems.is_empty() {
            self.reject(line, problems.join("; "));
            return Ok(());
        }
        if let Some(first) = self.seen.get(&agent.id) {
            let reason = format!(
                "duplicate of line {first} in this file (same id `{}`); keep one of the two rows",
                agent.id
            );
            self.reject(line, reason);
            return Ok(());
        }
        self.seen.insert(agent.id.clone(), line);
        let existed = self.store.agent(&agent.id).await?.is_some();
        match self.store.upsert_agent(&agent, &self.schema.realm).await {
            Ok(_) if existed => self.report.updated += 1,
            Ok(_) => self.report.imported += 1,
            Err(StoreError::Invalid(reason)) => self.reject(line, reason),
            Err(error) => return Err(error.into()),
        }
        Ok(())
    }
}

/// Reads one row's cells into an agent, with the problems found on the
/// way. Empty cells are skipped, so an empty password keeps the stored
/// one.
fn read_agent(cells: Vec<(String, Json)>) -> (NewAgent, Vec<String>) {
    let mut agent = NewAgent::default();
    let mut problems = Vec::new();
    for (column, value) in cells {
        if matches!(&value, Json::Null) || matches!(&value, Json::String(s) if s.trim().is_empty())
        {
            continue;
        }
        match column.as_str() {
            "id" => agent.id = scalar_text(&value),
            "name" => agent.name = scalar_text(&value),
            "sip_user" => agent.sip_user = Some(scalar_text(&value)),
            "uri" => agent.uri = Some(scalar_text(&value)),
            "password" => match &value {
                // The password itself is never repeated in a message.
                Json::String(text) => agent.password = Some(text.clone()),
                _ => problems.push(String::from(
                    "the password is not text (YAML reads unquoted digits as a number and drops leading zeros); quote it",
                )),
            },
            "skills" => match read_skills(&value) {
                Ok(skills) => agent.skills = skills,
                Err(problem) => problems.push(problem),
            },
            "languages" => agent.languages = text_list(&value),
            "teams" => agent.teams = text_list(&value),
            "enabled" => match &value {
                Json::Bool(flag) => agent.enabled = *flag,
                other => match crate::crm::parse_bool(&scalar_text(other)) {
                    Some(flag) => agent.enabled = flag,
                    None => problems.push(format!(
                        "invalid enabled `{}`: write `true` or `false`",
                        scalar_text(other)
                    )),
                },
            },
            other => problems.push(format!(
                "unknown column `{other}`; use {}",
                COLUMNS.join(", ")
            )),
        }
    }
    if agent.id.is_empty() {
        problems.push(String::from(
            "the id is missing; give each agent an id such as `ana`",
        ));
    }
    (agent, problems)
}

fn scalar_text(value: &Json) -> String {
    match value {
        Json::String(text) => text.trim().to_string(),
        other => other.to_string(),
    }
}

/// Reads a list, or text with items separated by `;`.
fn text_list(value: &Json) -> Vec<String> {
    match value {
        Json::Array(items) => items.iter().map(scalar_text).collect(),
        other => scalar_text(other)
            .split(';')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_string)
            .collect(),
    }
}

/// Reads skills as a map of levels or as `routers:2;sales:1`.
fn read_skills(value: &Json) -> Result<BTreeMap<String, u32>, String> {
    let pairs: Vec<(String, String)> = match value {
        Json::Object(map) => map
            .iter()
            .map(|(skill, level)| (skill.trim().to_string(), scalar_text(level)))
            .collect(),
        other => {
            let text = scalar_text(other);
            let mut pairs = Vec::new();
            for item in text.split(';').map(str::trim).filter(|i| !i.is_empty()) {
                let Some((skill, level)) = item.split_once(':') else {
                    return Err(format!(
                        "invalid skill `{item}`: write each skill with its level, as in `routers:2;sales:1`"
                    ));
                };
                pairs.push((skill.trim().to_string(), level.trim().to_string()));
            }
            pairs
        }
    };
    let mut skills = BTreeMap::new();
    for (skill, level) in pairs {
        match level.parse::<u32>() {
            Ok(number) if number >= 1 => {
                if skills.insert(skill.clone(), number).is_some() {
                    return Err(format!(
                        "skill `{skill}` is given twice; keep one level for it"
                    ));
                }
            }
            _ => {
                return Err(format!(
                    "invalid level `{level}` of skill `{skill}`: write a whole number from 1, as in `{skill}:2`"
                ));
            }
        }
    }
    Ok(skills)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::{line_at, read_skills};
    use serde_json::json;

    #[test]
    fn skills_read_from_text_and_map() {
        let skills = read_skills(&json!("routers:2; sales:1")).unwrap();
        assert_eq!(skills.get("routers"), Some(&2));
        assert_eq!(skills.get("sales"), Some(&1));
        let skills = read_skills(&json!({"routers": 3})).unwrap();
        assert_eq!(skills.get("routers"), Some(&3));
        assert!(read_skills(&json!("routers")).is_err());
        assert!(read_skills(&json!("routers:0")).is_err());
        assert!(read_skills(&json!("routers:x")).is_err());
        assert!(read_skills(&json!("routers:1;routers:2")).is_err());
    }

    #[test]
    fn lines_counted_across_blank_and_crlf() {
        let text = b"id,name\r\nana,Ana\r\n\r\nbor,Bor\r\n";
        assert_eq!(line_at(text, 0), 1);
        assert_eq!(line_at(text, 9), 2);
        // The csv crate may place a record at the line end before it.
        assert_eq!(line_at(text, 17), 4);
        assert_eq!(line_at(text, 19), 4);
    }
}
