//! Reading typed values out of `AnyRow`s: JSON text columns, 0/1 booleans
//! and the integer widths the two backends return.

use super::StoreError;
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::any::AnyRow;

/// Reads a column, naming the table and column when it fails.
pub(super) fn get<T>(
    row: &AnyRow,
    table: &'static str,
    column: &'static str,
) -> Result<T, StoreError>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get::<T, _>(column)
        .map_err(|error| StoreError::Corrupt {
            table,
            column,
            reason: error.to_string(),
        })
}

/// Reads a JSON text column.
pub(super) fn json<T: DeserializeOwned>(
    row: &AnyRow,
    table: &'static str,
    column: &'static str,
) -> Result<T, StoreError> {
    let text: String = get(row, table, column)?;
    serde_json::from_str(&text).map_err(|error| StoreError::Corrupt {
        table,
        column,
        reason: error.to_string(),
    })
}

/// Reads a 0/1 column as a bool.
pub(super) fn flag(
    row: &AnyRow,
    table: &'static str,
    column: &'static str,
) -> Result<bool, StoreError> {
    Ok(get::<i64>(row, table, column)? != 0)
}

/// Writes a value as JSON text.
pub(super) fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    // serde_json fails only on maps with non-string keys and on custom
    // Serialize errors, and the stored types have neither, so the fallback
    // is not expected to be stored.
    serde_json::to_string(value).unwrap_or_else(|_| String::from("null"))
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
pub(super) fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
