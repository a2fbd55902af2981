//! A file naming a kind this build leaves out is refused at that name, with the cargo feature
//! to enable. Each test holds in every build: with the feature, the file is accepted.

use baton_topology::{StoreSpec, Topology, TopologyError};

const AGENT: &str = "[[agents]]\nname = \"a\"\nscript = [{ text = \"hi\" }]\n";

/// The problems of checking `text`, one a line, or `None` if it checks.
fn check(text: &str) -> Option<String> {
    Topology::parse("t.toml", text)
        .and_then(|topology| topology.check())
        .err()
        .map(|error| error.to_string())
}

#[test]
fn a_provider_kind_is_refused_at_its_kind_when_an_agent_uses_it() {
    let text = format!("store = \"memory\"\n[providers.offline]\nkind = \"scripted\"\n{AGENT}");
    let refused = check(&text);
    if cfg!(feature = "scripted") {
        assert_eq!(refused, None);
    } else {
        assert_eq!(
            refused.as_deref(),
            Some(
                "t.toml:3:8: provider \"offline\" of kind scripted is not in this build: enable \
                 the cargo feature `scripted`"
            )
        );
    }
}

#[test]
fn a_tool_kind_is_refused_where_the_file_names_it() {
    let text = "store = \"memory\"\n[providers.offline]\nkind = \"scripted\"\n\
         [tools.fetch]\nkind = \"http_get\"\nallow_hosts = [\"127.0.0.1\"]\n\
         [[agents]]\nname = \"a\"\ntools = [\"fetch\", \"calculator\"]\nscript = [{ text = \"hi\" }]\n";
    let parsed = Topology::parse("t.toml", text)
        .map(|_| ())
        .map_err(|e| e.to_string());
    let mut expected = Vec::new();
    if !cfg!(feature = "http-get") {
        expected.push(
            "t.toml:5:8: tool \"fetch\" of kind http_get is not in this build: enable the cargo \
             feature `http-get`",
        );
    }
    if !cfg!(feature = "calculator") {
        expected.push(
            "t.toml:9:19: tool \"calculator\" of agent \"a\" is not in this build: enable the \
             cargo feature `calculator`",
        );
    }
    if expected.is_empty() {
        assert_eq!(parsed, Ok(()));
    } else {
        assert_eq!(parsed, Err(expected.join("\n")));
    }
}

#[tokio::test]
async fn a_store_is_refused_at_its_key_or_by_name_when_chosen_outside_the_file() {
    let text = format!(
        "store = \"postgres://baton@127.0.0.1:1/baton\"\n[providers.offline]\nkind = \"scripted\"\n{AGENT}"
    );
    let refused = check(&text);
    if cfg!(feature = "postgres") {
        assert!(!refused.unwrap_or_default().contains("not in this build"));
    } else {
        assert_eq!(
            refused
                .as_deref()
                .map(|text| text.lines().next().unwrap_or_default()),
            Some(
                "t.toml:1:9: store postgres://baton@127.0.0.1:1/baton is not in this build: \
                 enable the cargo feature `postgres`"
            )
        );
    }
    let opened = StoreSpec::SqliteMemory.open().await.map(|_| ());
    if cfg!(feature = "sqlite") {
        assert!(opened.is_ok(), "{opened:?}");
    } else {
        let Err(error) = opened else {
            panic!("sqlite::memory: opened without the sqlite feature");
        };
        assert!(matches!(
            error,
            TopologyError::FeatureDisabled {
                feature: "sqlite",
                ..
            }
        ));
        assert_eq!(
            error.to_string(),
            "store sqlite::memory: is not in this build: enable the cargo feature `sqlite`"
        );
    }
}
