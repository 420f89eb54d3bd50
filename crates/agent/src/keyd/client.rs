//! An application's side of the key service socket: one JSON request, one JSON answer.

use std::path::Path;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::AgentError;

/// Sends `request` to the key service at `socket`; its `{"error"}` answer becomes an error.
pub async fn call(socket: &Path, request: &Value) -> Result<Value, AgentError> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|e| super::file_error(socket, e))?;
    let (read, mut write) = stream.into_split();
    let mut line = request.to_string();
    line.push('\n');
    write
        .write_all(line.as_bytes())
        .await
        .map_err(|e| super::file_error(socket, e))?;
    let mut answer = String::new();
    BufReader::new(read)
        .read_line(&mut answer)
        .await
        .map_err(|e| super::file_error(socket, e))?;
    let value: Value = serde_json::from_str(&answer)
        .map_err(|e| AgentError::Protocol(format!("the key service answered {answer:?}: {e}")))?;
    match value.get("error").and_then(Value::as_str) {
        Some(e) => Err(AgentError::Protocol(format!(
            "the key service refused: {e}"
        ))),
        None => Ok(value),
    }
}
