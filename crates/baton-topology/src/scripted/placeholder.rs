//! The `{{…}}` placeholders of scripted texts, reasons and string arguments.

/// A `{{…}}` placeholder of a scripted text.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Placeholder<'a> {
    User,
    Result(Vec<&'a str>),
    Tool(&'a str, Vec<&'a str>),
}

impl<'a> Placeholder<'a> {
    pub(crate) const FORMS: &'static str =
        "{{user}}, {{result}}, {{result.FIELD}}, {{tool.NAME}} or {{tool.NAME.FIELD}}";

    pub(crate) fn parse(key: &'a str) -> Result<Self, ()> {
        let mut parts = key.split('.');
        let valid = |part: &&str| !part.is_empty();
        match parts.next() {
            Some("user") if parts.next().is_none() => Ok(Self::User),
            Some("result") => {
                let path: Vec<&str> = parts.collect();
                if path.iter().all(valid) {
                    Ok(Self::Result(path))
                } else {
                    Err(())
                }
            }
            Some("tool") => {
                let tool = parts.next().filter(valid).ok_or(())?;
                let path: Vec<&str> = parts.collect();
                if path.iter().all(valid) {
                    Ok(Self::Tool(tool, path))
                } else {
                    Err(())
                }
            }
            _ => Err(()),
        }
    }

    /// The placeholders of `template` that do not parse.
    pub(crate) fn invalid_in(template: &str) -> Vec<&str> {
        let mut invalid = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find("{{") {
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else { break };
            let key = after[..close].trim();
            if Placeholder::parse(key).is_err() {
                invalid.push(key);
            }
            rest = &after[close + 2..];
        }
        invalid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_validated() {
        assert_eq!(Placeholder::parse("user"), Ok(Placeholder::User));
        assert_eq!(
            Placeholder::parse("result"),
            Ok(Placeholder::Result(vec![]))
        );
        assert_eq!(
            Placeholder::parse("tool.x.a.0"),
            Ok(Placeholder::Tool("x", vec!["a", "0"]))
        );
        assert_eq!(
            Placeholder::invalid_in("{{ user }} {{usr}} {{tool}} {{result..x}} {{tool.x}}"),
            ["usr", "tool", "result..x"]
        );
    }
}
