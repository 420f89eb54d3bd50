//! Every console table as CSV or JSON (`?format=csv` / `?format=json` on its page): the same
//! rows the page shows, with the same filters. CSV cells that a spreadsheet would run as a
//! formula (starting with `=`, `+`, `-`, `@`) are prefixed with `'`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::Refused;

/// How a table is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
    Html,
    Csv,
    Json,
}

impl Format {
    /// The `format` query parameter: empty or `html`, `csv`, `json`.
    pub(super) fn parse(asked: Option<&str>) -> Result<Self, Refused> {
        match asked.unwrap_or_default() {
            "" | "html" => Ok(Self::Html),
            "csv" => Ok(Self::Csv),
            "json" => Ok(Self::Json),
            other => Err(Refused::Failed(
                StatusCode::BAD_REQUEST,
                format!("format {other:?}: html, csv or json"),
            )),
        }
    }
}

/// A table to export: a file name, its columns and its rows (cells as text).
pub(super) struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    pub rows: Vec<Vec<String>>,
}

fn csv_cell(cell: &str) -> String {
    let cell = if cell.starts_with(['=', '+', '-', '@']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    };
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell
    }
}

/// The table as CSV (RFC 4180: CRLF line ends, a header line).
pub(super) fn csv(table: &Table) -> String {
    let mut out = String::new();
    for line in std::iter::once(table.columns.iter().map(|c| c.to_string()).collect())
        .chain(table.rows.iter().cloned())
        .collect::<Vec<Vec<String>>>()
    {
        let cells: Vec<String> = line.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

/// The table as a JSON array of objects keyed by column.
pub(super) fn json(table: &Table) -> String {
    let rows: Vec<serde_json::Map<String, serde_json::Value>> = table
        .rows
        .iter()
        .map(|row| {
            table
                .columns
                .iter()
                .zip(row)
                .map(|(c, v)| (c.to_string(), serde_json::Value::String(v.clone())))
                .collect()
        })
        .collect();
    serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".into())
}

/// The download of `table` in `format` (CSV or JSON), with a `Link: rel="next"` to the next
/// page when there is one.
pub(super) fn download(format: Format, table: &Table, next: Option<String>) -> Response {
    let (body, kind, ext) = match format {
        Format::Json => (json(table), "application/json", "json"),
        _ => (csv(table), "text/csv; charset=utf-8", "csv"),
    };
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"inkan-{}.{ext}\"",
        table.name
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(Ok(v)) = next.map(|n| HeaderValue::from_str(&format!("<{n}>; rel=\"next\""))) {
        headers.insert(header::LINK, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table {
            name: "t",
            columns: &["serial", "subject"],
            rows: vec![
                vec!["1a".into(), "CN=a,O=\"b\"".into()],
                vec!["2b".into(), "=HYPERLINK(\"x\")".into()],
            ],
        }
    }

    #[test]
    fn csv_quotes_what_needs_it_and_defuses_formulas() {
        assert_eq!(
            csv(&table()),
            "serial,subject\r\n1a,\"CN=a,O=\"\"b\"\"\"\r\n2b,\"'=HYPERLINK(\"\"x\"\")\"\r\n"
        );
    }

    #[test]
    fn json_rows_are_objects_keyed_by_column() {
        let v: serde_json::Value = serde_json::from_str(&json(&table())).unwrap();
        assert_eq!(v[0]["serial"], "1a");
        assert_eq!(v[1]["subject"], "=HYPERLINK(\"x\")");
    }

    #[test]
    fn an_unknown_format_is_refused() {
        assert!(Format::parse(Some("xml")).is_err());
        assert_eq!(Format::parse(None).ok(), Some(Format::Html));
    }
}
