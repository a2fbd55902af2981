//! TOML values as the JSON that tools and models see.

/// `value` as JSON: datetimes become their RFC 3339 text, non-finite floats become `null`.
pub(crate) fn to_json(value: &toml::Value) -> serde_json::Value {
    match value {
        toml::Value::String(text) => serde_json::Value::String(text.clone()),
        toml::Value::Integer(n) => serde_json::Value::from(*n),
        toml::Value::Float(x) => serde_json::Number::from_f64(*x)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(datetime) => serde_json::Value::String(datetime.to_string()),
        toml::Value::Array(items) => items.iter().map(to_json).collect(),
        toml::Value::Table(table) => table_to_json(table),
    }
}

/// `table` as a JSON object.
pub(crate) fn table_to_json(table: &toml::Table) -> serde_json::Value {
    serde_json::Value::Object(
        table
            .iter()
            .map(|(key, value)| (key.clone(), to_json(value)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_toml_type_converts() {
        let table: toml::Table = toml::from_str(
            r#"
            s = "x"
            i = 3
            f = 1.5
            nan = nan
            b = true
            d = 2026-05-01T09:30:00Z
            a = [1, "two"]
            t = { k = "v" }
            "#,
        )
        .unwrap();
        assert_eq!(
            table_to_json(&table),
            json!({
                "s": "x", "i": 3, "f": 1.5, "nan": null, "b": true,
                "d": "2026-05-01T09:30:00Z", "a": [1, "two"], "t": {"k": "v"}
            })
        );
    }
}
