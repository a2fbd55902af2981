//! `kv_lookup`: a fixed table of keys and values, for demo data such as orders.

use baton_core::context::ToolContext;
use baton_core::error::ToolError;
use baton_core::tool::Tool;
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How many keys an error lists when a key is not found; larger tables list none.
const LISTED_KEYS: usize = 20;

/// Looks a key up in a fixed table. String values are returned as they are, others as JSON.
///
/// A key is found exactly, or else ignoring case and surrounding spaces.
///
/// ```
/// use baton_core::tool::Tool;
/// use baton_core::context::ToolContext;
/// use baton_topology::tools::{KvLookup, KvLookupArgs};
/// use serde_json::json;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let orders = KvLookup::new([("A-1042".to_owned(), json!({"total": "49.90 EUR"}))]);
/// let found = orders.call(KvLookupArgs { key: "a-1042".into() }, ToolContext::standalone()).await.unwrap();
/// assert_eq!(found, r#"{"total":"49.90 EUR"}"#);
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct KvLookup {
    entries: Arc<BTreeMap<String, serde_json::Value>>,
}

/// Arguments of [`KvLookup`].
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct KvLookupArgs {
    /// The key to look up.
    pub key: String,
}

impl KvLookup {
    /// A table of `entries`.
    pub fn new(entries: impl IntoIterator<Item = (String, serde_json::Value)>) -> Self {
        Self {
            entries: Arc::new(entries.into_iter().collect()),
        }
    }

    /// The value of `key`, as the model sees it.
    fn lookup(&self, key: &str) -> Result<String, ToolError> {
        let wanted = key.trim();
        let value = self.entries.get(wanted).or_else(|| {
            self.entries
                .iter()
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(wanted))
                .map(|(_, v)| v)
        });
        match value {
            Some(serde_json::Value::String(text)) => Ok(text.clone()),
            Some(other) => Ok(other.to_string()),
            None if self.entries.len() <= LISTED_KEYS => {
                let known: Vec<&str> = self.entries.keys().map(String::as_str).collect();
                Err(ToolError::failed(format!(
                    "no entry for {key:?} (known keys: {})",
                    known.join(", ")
                )))
            }
            None => Err(ToolError::failed(format!("no entry for {key:?}"))),
        }
    }
}

impl Tool for KvLookup {
    type Args = KvLookupArgs;

    fn name(&self) -> &str {
        "kv_lookup"
    }

    fn description(&self) -> &str {
        "Looks a key up in a fixed table and returns its value."
    }

    /// It only reads its table.
    fn read_only(&self) -> bool {
        true
    }

    async fn call(&self, args: KvLookupArgs, _ctx: &ToolContext<'_>) -> Result<String, ToolError> {
        self.lookup(&args.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn orders() -> KvLookup {
        KvLookup::new([
            (
                "A-1042".to_owned(),
                json!({"total": "49.90 EUR", "paid": 2}),
            ),
            ("note".to_owned(), json!("plain text")),
        ])
    }

    #[tokio::test]
    async fn keys_are_found_exactly_or_ignoring_case_and_spaces() {
        let table = orders();
        let call =
            |key: &str| table.call(KvLookupArgs { key: key.into() }, ToolContext::standalone());
        let expected = json!({"total": "49.90 EUR", "paid": 2});
        let found: serde_json::Value =
            serde_json::from_str(&call("A-1042").await.unwrap()).unwrap();
        assert_eq!(found, expected);
        let found: serde_json::Value =
            serde_json::from_str(&call(" a-1042 ").await.unwrap()).unwrap();
        assert_eq!(found, expected);
        assert_eq!(call("note").await.unwrap(), "plain text");
    }

    #[tokio::test]
    async fn a_missing_key_is_a_tool_error_that_lists_the_keys() {
        let error = orders()
            .call(
                KvLookupArgs { key: "B-7".into() },
                ToolContext::standalone(),
            )
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "no entry for \"B-7\" (known keys: A-1042, note)"
        );
        let large = KvLookup::new((0..=LISTED_KEYS).map(|i| (i.to_string(), json!(i))));
        let error = large.lookup("x").unwrap_err();
        assert_eq!(error.to_string(), "no entry for \"x\"");
    }
}
