//! Every kind of problem a topology file can have, with the exact text and position reported.

use baton_topology::{ProblemKind, Topology, TopologyError};

/// The problems of `text` as `baton check` prints them.
fn problems(text: &str) -> Vec<String> {
    match Topology::parse("t.toml", text) {
        Ok(_) => panic!("the topology is valid:\n{text}"),
        Err(error) => {
            assert!(!error.problems().is_empty(), "{error}");
            error.problems().iter().map(ToString::to_string).collect()
        }
    }
}

fn only_problem(text: &str) -> String {
    let mut all = problems(text);
    assert_eq!(all.len(), 1, "{all:#?}");
    all.remove(0)
}

/// A valid preamble: one scripted provider everyone uses.
const OFFLINE: &str = "[providers.offline]\nkind = \"scripted\"\n";

#[test]
fn syntax_errors_name_the_position_and_what_was_expected() {
    assert_eq!(
        only_problem("[[agents]]\nname = \"triage\n"),
        "t.toml:2:15: invalid basic string, expected `\"`"
    );
    assert_eq!(
        only_problem("max_handoffs = [1]\n"),
        "t.toml:1:16: invalid type: sequence, expected u32"
    );
}

#[test]
fn unknown_keys_are_errors_that_list_the_known_ones() {
    assert_eq!(
        only_problem("stor = \"memory\"\n"),
        "t.toml:1:1: unknown field `stor`, expected one of `entry`, `provider`, `store`, \
         `max_handoffs`, `providers`, `tools`, `agents`, `server`"
    );
    let text = format!("{OFFLINE}[[agents]]\nname = \"a\"\nmodle = \"x\"\n");
    assert!(
        only_problem(&text).starts_with(
            "t.toml:5:1: unknown field `modle`, expected one of `name`, `instructions`"
        )
    );
    let text = format!(
        "{OFFLINE}[[agents]]\nname = \"a\"\n[[agents.script]]\nwhen = {{ calls = 1 }}\ntext = \"x\"\n"
    );
    assert_eq!(
        only_problem(&text),
        "t.toml:6:10: unknown field `calls`, expected one of `call`, `user_contains`, \
         `after_tool`, `result_contains`"
    );
    assert_eq!(
        only_problem("[providers.x]\nkind = \"gemini\"\n"),
        "t.toml:2:8: unknown variant `gemini`, expected one of `openai`, `anthropic`, `scripted`"
    );
}

#[test]
fn handoffs_must_name_defined_agents_other_than_themselves() {
    let text = format!(
        "{OFFLINE}
[[agents]]
name = \"triage\"
handoffs = [\"billing\", \"biling\", \"triage\"]
script = [{{ text = \"hi\" }}]

[[agents]]
name = \"billing\"
script = [{{ text = \"hi\" }}]

[[agents]]
name = \"refunds\"
script = [{{ text = \"hi\" }}]
"
    );
    assert_eq!(
        problems(&text),
        [
            "t.toml:6:24: agent \"triage\" hands off to \"biling\", which is not defined \
             (defined agents: billing, refunds)",
            "t.toml:6:34: agent \"triage\" hands off to itself",
        ]
    );
}

#[test]
fn tools_must_exist_and_configured_kinds_need_a_table() {
    let text = format!(
        "{OFFLINE}
[tools.lookup_order]
kind = \"kv_lookup\"
entries = {{ a = 1 }}

[[agents]]
name = \"billing\"
tools = [\"calculator\", \"lookup_ordr\", \"http_get\", \"calculator\"]
script = [{{ text = \"hi\" }}]
"
    );
    assert_eq!(
        problems(&text),
        [
            "t.toml:10:24: agent \"billing\" uses tool \"lookup_ordr\", which does not exist \
             (available tools: calculator, current_time, lookup_order)",
            "t.toml:10:39: agent \"billing\" uses tool \"http_get\", which needs a \
             [tools.http_get] table (with allow_hosts, the hosts it may fetch from)",
            "t.toml:10:51: agent \"billing\" lists tool \"calculator\" twice",
        ]
    );
}

#[test]
fn providers_must_be_defined_or_defaulted() {
    let two = "[providers.a]\nkind = \"scripted\"\n[providers.b]\nkind = \"scripted\"\n";
    let text = format!(
        "{two}[[agents]]\nname = \"x\"\nprovider = \"c\"\nscript = [{{ text = \"hi\" }}]\n"
    );
    assert_eq!(
        only_problem(&text),
        "t.toml:7:12: agent \"x\" uses provider \"c\", which is not defined (defined providers: a, b)"
    );
    let text = format!("{two}[[agents]]\nname = \"x\"\nscript = [{{ text = \"hi\" }}]\n");
    assert_eq!(
        only_problem(&text),
        "t.toml:6:8: agent \"x\" names no provider and there is no default (defined providers: \
         a, b): add provider = \"NAME\" to the agent or at the top of the file"
    );
    let text = format!(
        "provider = \"z\"\n{two}[[agents]]\nname = \"x\"\nscript = [{{ text = \"hi\" }}]\n"
    );
    assert_eq!(
        problems(&text)[0],
        "t.toml:1:12: default provider \"z\" is not defined (defined providers: a, b)"
    );
    // With a top-level provider, or a single one, agents need not name it.
    let text = format!(
        "provider = \"b\"\n{two}[[agents]]\nname = \"x\"\nscript = [{{ text = \"hi\" }}]\n"
    );
    assert!(Topology::parse("t.toml", text).is_ok());
}

#[test]
fn agent_names_are_validated_once_each() {
    let text = format!(
        "{OFFLINE}
[[agents]]
name = \"Billing Team\"
script = [{{ text = \"hi\" }}]

[[agents]]
name = \"billing\"
script = [{{ text = \"hi\" }}]

[[agents]]
name = \"billing\"
script = [{{ text = \"hi\" }}]
"
    );
    assert_eq!(
        problems(&text),
        [
            "t.toml:5:8: agent name \"Billing Team\" is invalid: use 1 to 64 characters from \
             a-z, 0-9, '_' and '-'",
            "t.toml:13:8: agent \"billing\" is defined twice (first on line 9)",
        ]
    );
}

#[test]
fn the_entry_must_be_defined_and_some_agent_must_be() {
    let text = format!(
        "entry = \"triag\"\n{OFFLINE}[[agents]]\nname = \"triage\"\nscript = [{{ text = \"hi\" }}]\n"
    );
    assert_eq!(
        only_problem(&text),
        "t.toml:1:9: entry agent \"triag\" is not defined (defined agents: triage)"
    );
    assert_eq!(
        only_problem(OFFLINE),
        "t.toml:1:1: the file defines no agent: add an [[agents]] table with a name"
    );
}

#[test]
fn secrets_inline_are_refused() {
    let text = "[providers.openai]\nkind = \"openai\"\napi_key = \"sk-123\"\n\
                [[agents]]\nname = \"a\"\n\
                [server]\n[[server.tenants]]\nname = \"acme\"\ntoken = \"t0k3n\"\n";
    assert_eq!(
        problems(text),
        [
            "t.toml:3:11: provider \"openai\" has an inline api_key: secrets stay out of \
             topology files; put it in an environment variable and name that variable with \
             api_key_env",
            "t.toml:9:9: tenant \"acme\" has an inline token: secrets stay out of topology \
             files; put it in an environment variable and name that variable with token_env",
        ]
    );
}

#[test]
fn fields_of_other_kinds_and_missing_fields_are_reported() {
    let text = "[providers.openai]\nkind = \"openai\"\nchunk_delay = \"10ms\"\n\
                [providers.offline]\nkind = \"scripted\"\nmodel = \"gpt\"\n\
                [tools.fetch]\nkind = \"http_get\"\nentries = { a = 1 }\n\
                [tools.orders]\nkind = \"kv_lookup\"\n\
                [tools.mystery]\ndescription = \"?\"\n\
                [[agents]]\nname = \"a\"\nprovider = \"openai\"\n\
                [server]\n[[server.tenants]]\nname = \"acme\"\n";
    assert_eq!(
        problems(text),
        [
            "t.toml:3:15: chunk_delay does not apply to provider \"openai\" of kind openai",
            "t.toml:6:9: model does not apply to provider \"offline\" of kind scripted",
            "t.toml:7:8: tool \"fetch\" of kind http_get needs allow_hosts, the hosts it may \
             fetch from",
            "t.toml:9:11: entries does not apply to tool \"fetch\" of kind http_get",
            "t.toml:10:8: tool \"orders\" of kind kv_lookup needs entries, the table it looks \
             keys up in",
            "t.toml:12:8: tool \"mystery\" needs kind, one of calculator, current_time, \
             http_get, kv_lookup",
            "t.toml:19:8: tenant \"acme\" needs token_env, the environment variable that holds \
             its bearer token",
        ]
    );
}

#[test]
fn values_are_checked() {
    let text = "store = \"mysql://db\"\nmax_handoffs = 0\n\
                [providers.openai]\nkind = \"openai\"\nbase_url = \"ftp://x\"\napi_key_env = \"MY-KEY\"\n\
                [tools.fetch]\nkind = \"http_get\"\nallow_hosts = [\"https://example.com/\"]\nmax_bytes = 0\n\
                [[agents]]\nname = \"a\"\nmax_steps = 0\n\
                [server]\nbind = \"localhost\"\n";
    assert_eq!(
        problems(text),
        [
            "t.toml:1:1: max_handoffs must be at least 1, not 0",
            "t.toml:1:9: store \"mysql://db\" is not a store: use \"memory\", \"sqlite:PATH\" \
             (e.g. \"sqlite:baton.db\") or \"postgres://USER@HOST/DATABASE\"",
            "t.toml:5:12: base_url \"ftp://x\" of provider \"openai\" is not an http:// or \
             https:// URL",
            "t.toml:6:15: api_key_env \"MY-KEY\" is not an environment variable name (use A-Z, \
             0-9 and '_')",
            "t.toml:9:16: allow_hosts entry \"https://example.com/\" is not a host: write e.g. \
             \"example.com\", \"127.0.0.1\" or \"*.example.com\"",
            "t.toml:10:13: max_bytes must be at least 1",
            "t.toml:12:8: max_steps of agent \"a\" must be at least 1",
            "t.toml:15:8: bind \"localhost\" is not an address with a port, such as \
             \"127.0.0.1:8080\"",
        ]
    );
    assert_eq!(
        only_problem("[[agents]]\nname = \"a\"\ntool_timeout = \"soon\"\n"),
        "t.toml:3:16: expected a duration: seconds as a number, or a text such as \"30s\", \
         \"500ms\" or \"1m 30s\", found \"soon\""
    );
}

#[test]
fn approvals_and_interrupt_policies_are_words_the_file_lists() {
    let text = format!(
        "{OFFLINE}[tools.refund]\nkind = \"kv_lookup\"\nentries = {{ A-1 = \"issued\" }}\n\
         approval = \"sometimes\"\non_interrupt = \"later\"\n\
         [[agents]]\nname = \"a\"\ntools = [\"refund\"]\napproval_timeout = \"0s\"\n\
         script = [{{ text = \"hi\" }}]\n"
    );
    assert_eq!(
        problems(&text),
        [
            "t.toml:6:12: approval of tool \"refund\" must be \"never\" or \"always\", not \
             \"sometimes\"",
            "t.toml:7:16: on_interrupt of tool \"refund\" must be \"retry\", \"fail\" or \
             \"ask\", not \"later\"",
            "t.toml:11:20: approval_timeout of agent \"a\" must be longer than 0, not \"0s\"",
        ]
    );
    let error = Topology::parse("t.toml", text).unwrap_err();
    assert!(matches!(
        &error.problems()[0].kind,
        ProblemKind::UnknownChoice { key, value, accepted }
            if key == "approval of tool \"refund\""
                && value == "sometimes"
                && *accepted == ["never", "always"]
    ));
    assert_eq!(
        only_problem(&format!(
            "{OFFLINE}[[agents]]\nname = \"a\"\napproval_timeout = \"721h\"\n\
             script = [{{ text = \"hi\" }}]\n"
        )),
        "t.toml:5:20: approval_timeout of agent \"a\" must be at most 720h (30 days), not \
         \"721h\""
    );
    assert_eq!(
        only_problem("[tools.calculator]\napproval = true\n"),
        "t.toml:2:12: invalid type: boolean `true`, expected a string"
    );
}

#[test]
fn scripts_may_only_use_the_agents_tools_and_handoffs() {
    let text = format!(
        "{OFFLINE}
[[agents]]
name = \"billing\"
tools = [\"calculator\"]
handoffs = [\"refunds\"]

[[agents.script]]
when = {{ call = 0 }}
tool = \"lookup\"

[[agents.script]]
handoff = \"sales\"
reason = \"see {{{{tool.x.y}}}} and {{{{usr}}}}\"

[[agents.script]]
when = {{ user_contains = \"x\" }}

[[agents.script]]
text = \"ok\"
arguments = {{ a = 1 }}

[[agents]]
name = \"refunds\"
"
    );
    assert_eq!(
        problems(&text),
        [
            "t.toml:10:17: call counts from 1: the first call is call = 1",
            "t.toml:11:8: a scripted turn of agent \"billing\" calls tool \"lookup\", which the \
             agent does not have (its tools: calculator)",
            "t.toml:14:11: a scripted turn of agent \"billing\" hands off to \"sales\", which is \
             not among its handoffs (refunds)",
            "t.toml:15:10: placeholder {{usr}} is not one of {{user}}, {{result}}, \
             {{result.FIELD}}, {{tool.NAME}} or {{tool.NAME.FIELD}}",
            "t.toml:17:1: a scripted turn of agent \"billing\" needs an answer: text, tool, \
             tool_calls or handoff",
            "t.toml:22:13: arguments does not apply to a scripted turn without tool",
            "t.toml:25:8: agent \"refunds\" uses the scripted provider \"offline\" but has no \
             [[agents.script]] turns",
        ]
    );
}

#[test]
fn check_reports_missing_environment_variables() {
    let text = "[providers.openai]\nkind = \"openai\"\napi_key_env = \"BATON_TEST_SURELY_UNSET\"\n\
                [providers.local]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
                [providers.official]\nkind = \"anthropic\"\n\
                [[agents]]\nname = \"a\"\nprovider = \"openai\"\n\
                [[agents]]\nname = \"b\"\nprovider = \"local\"\n\
                [[agents]]\nname = \"c\"\nprovider = \"official\"\n\
                [server]\n[[server.tenants]]\nname = \"acme\"\ntoken_env = \"BATON_TEST_SURELY_UNSET_TOO\"\n";
    let topology = Topology::parse("t.toml", text).unwrap();
    let error = topology.check().unwrap_err();
    assert_eq!(
        error.to_string(),
        "t.toml:3:15: provider \"openai\" reads its API key from BATON_TEST_SURELY_UNSET, which \
         is not set\n\
         t.toml:7:12: provider \"official\" needs api_key_env to talk to the provider's own API \
         (e.g. api_key_env = \"ANTHROPIC_API_KEY\")"
    );
    assert!(matches!(
        error.problems()[0].kind,
        ProblemKind::MissingEnv { ref variable, .. } if variable == "BATON_TEST_SURELY_UNSET"
    ));
    assert_eq!(
        topology.server_config().unwrap_err().to_string(),
        "t.toml:21:13: tenant \"acme\" reads its token from BATON_TEST_SURELY_UNSET_TOO, which is \
         not set"
    );
}

#[test]
fn a_valid_file_checks_and_summarizes() {
    // PATH is set wherever tests run; as a key it only has to be present.
    let text = "entry = \"triage\"\nstore = \"memory\"\n\
                [providers.openai]\nkind = \"openai\"\napi_key_env = \"PATH\"\nmodel = \"gpt-4o-mini\"\n\
                [tools.fetch]\nkind = \"http_get\"\nallow_hosts = [\"127.0.0.1\"]\n\
                [[agents]]\nname = \"billing\"\ntools = [\"fetch\", \"calculator\"]\n\
                [[agents]]\nname = \"triage\"\nhandoffs = [\"billing\"]\n\
                [server]\nbind = \"127.0.0.1:9000\"\nshutdown_grace = 2.5\n\
                [[server.tenants]]\nname = \"acme\"\ntoken_env = \"PATH\"\n";
    let topology = Topology::parse("t.toml", text).unwrap();
    assert_eq!(topology.entry().as_str(), "triage");
    let summary = topology.check().unwrap();
    assert_eq!(
        summary.to_string(),
        "t.toml: 2 agents, entry triage, store memory\n  \
         billing (openai) tools: fetch, calculator\n  \
         triage  (openai) → billing"
    );
    let server = topology.server_config().unwrap();
    assert_eq!(server.bind.to_string(), "127.0.0.1:9000");
    assert_eq!(
        server.shutdown_grace,
        std::time::Duration::from_millis(2500)
    );
    assert_eq!(server.tenants[0].name, "acme");
    assert!(!format!("{:?}", server.tenants[0]).contains(&server.tenants[0].token));
}

#[test]
fn another_provider_can_serve_every_agent() {
    let text = format!(
        "{OFFLINE}[providers.local]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
         [[agents]]\nname = \"a\"\nprovider = \"local\"\n"
    );
    let mut topology = Topology::parse("t.toml", text).unwrap();
    let error = topology.use_provider("offlin").unwrap_err();
    assert!(matches!(error, TopologyError::UnknownProvider { .. }));
    assert_eq!(
        error.to_string(),
        "t.toml defines no provider named \"offlin\" (defined providers: local, offline)"
    );
    assert_eq!(
        topology.use_provider("offline").unwrap_err().to_string(),
        "t.toml:7:8: agent \"a\" uses the scripted provider \"offline\" but has no \
         [[agents.script]] turns"
    );
    topology.use_provider("local").unwrap();
}

#[test]
fn unreadable_files_say_so() {
    let error = Topology::load("/no/such/topology.toml").unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("cannot read /no/such/topology.toml: "),
        "{error}"
    );
}

/// `count` agents' tools naming a tool that does not exist, one per line.
fn many_problems(count: usize) -> String {
    let mut text =
        format!("{OFFLINE}[[agents]]\nname = \"a\"\nscript = [{{ text = \"hi\" }}]\ntools = [\n");
    for _ in 0..count {
        text.push_str("  \"nope\",\n");
    }
    text.push_str("]\n");
    text
}

#[test]
fn forty_thousand_problems_are_each_located() {
    let all = problems(&many_problems(40_000));
    assert_eq!(all.len(), 40_000);
    let problem = |line: usize| {
        format!(
            "t.toml:{line}:3: agent \"a\" uses tool \"nope\", which does not exist (available \
             tools: calculator, current_time)"
        )
    };
    assert_eq!(all[0], problem(7));
    assert_eq!(all[20_000], problem(20_007));
    assert_eq!(all[39_999], problem(40_006));
}

#[test]
fn tenants_need_a_name_and_a_variable_of_their_own() {
    let text = format!(
        "{OFFLINE}[[agents]]\nname = \"a\"\nscript = [{{ text = \"hi\" }}]\n\
         [server]\n\
         [[server.tenants]]\nname = \"\"\ntoken_env = \"EMPTY_NAME_TOKEN\"\n\
         [[server.tenants]]\nname = \" acme\"\ntoken_env = \"ACME_TOKEN\"\n\
         [[server.tenants]]\nname = \"acme\"\ntoken_env = \"ACME_TOKEN\"\n\
         [[server.tenants]]\nname = \"beta\"\ntoken_env = \"ACME_TOKEN\"\n"
    );
    assert_eq!(
        problems(&text),
        [
            "t.toml:8:8: tenant name \"\" is invalid: a tenant needs a name (its threads belong \
             to it), without whitespace around it or control characters",
            "t.toml:11:8: tenant name \" acme\" is invalid: a tenant needs a name (its threads \
             belong to it), without whitespace around it or control characters",
            "t.toml:15:13: tenant \"acme\" reads its token from ACME_TOKEN, as tenant \" acme\" \
             does: give each tenant a variable of its own (two tenants with one token cannot be \
             told apart)",
            "t.toml:18:13: tenant \"beta\" reads its token from ACME_TOKEN, as tenant \" acme\" \
             does: give each tenant a variable of its own (two tenants with one token cannot be \
             told apart)",
        ]
    );
}

#[test]
fn numbers_out_of_range_are_refused_where_they_are() {
    let text = "max_handoffs = 4294967295\n\
                [providers.openai]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
                connect_timeout = 0\nresponse_timeout = \"2h\"\n\
                [providers.offline]\nkind = \"scripted\"\nchunk_delay = \"5m\"\n\
                [tools.fetch]\nkind = \"http_get\"\nallow_hosts = [\"127.0.0.1\"]\n\
                max_bytes = 1073741824\ntimeout = \"0s\"\n\
                [tools.orders]\nkind = \"kv_lookup\"\nentries = { a = { total = nan } }\n\
                [[agents]]\nname = \"a\"\nprovider = \"openai\"\ntemperature = nan\n\
                max_tokens = 0\nmax_steps = 5000\nmax_history_tokens = 0\ntool_timeout = 0.0\n\
                tools = [\"fetch\", \"orders\"]\n\
                [[agents]]\nname = \"b\"\nprovider = \"offline\"\ntemperature = inf\ntools = [\"calculator\"]\n\
                [[agents.script]]\nwhen = { call = 2000 }\ntool = \"calculator\"\n\
                arguments = { expression = -inf }\n\
                [[agents]]\nname = \"c\"\nprovider = \"openai\"\ntemperature = -100\n\
                [server]\nmax_body_bytes = 1073741824\nshutdown_grace = \"1h 1s\"\n\
                header_read_timeout = 0\nidle_timeout = \"2h\"\nbody_read_timeout = \"61m\"\n\
                max_connections = 0\n";
    assert_eq!(
        problems(text),
        [
            "t.toml:1:16: max_handoffs must be at most 100, not 4294967295",
            "t.toml:5:19: connect_timeout of provider \"openai\" must be longer than 0, not 0",
            "t.toml:6:20: response_timeout of provider \"openai\" must be at most 1h, not \"2h\"",
            "t.toml:9:15: chunk_delay of provider \"offline\" must be at most 1m, not \"5m\"",
            "t.toml:13:13: max_bytes of tool \"fetch\" must be at most 16777216, not 1073741824",
            "t.toml:14:11: timeout of tool \"fetch\" must be longer than 0, not \"0s\"",
            "t.toml:17:11: entries of tool \"orders\" holds nan or inf, which JSON cannot carry: \
             write a finite number or a string",
            "t.toml:21:15: temperature of agent \"a\" must be a number from 0 to 2, not nan",
            "t.toml:22:14: max_tokens of agent \"a\" must be at least 1, not 0",
            "t.toml:23:13: max_steps of agent \"a\" must be at most 1000, not 5000",
            "t.toml:24:22: max_history_tokens of agent \"a\" must be at least 1, not 0",
            "t.toml:25:16: tool_timeout of agent \"a\" must be longer than 0, not 0.0",
            "t.toml:30:15: temperature of agent \"b\" must be at most 2, not inf",
            "t.toml:33:17: call must be at most 1000, not 2000",
            "t.toml:35:13: the arguments of a call of tool \"calculator\" holds nan or inf, which \
             JSON cannot carry: write a finite number or a string",
            "t.toml:39:15: temperature of agent \"c\" must be at least 0, not -100",
            "t.toml:41:18: max_body_bytes must be at most 67108864, not 1073741824",
            "t.toml:42:18: shutdown_grace must be at most 1h, not \"1h 1s\"",
            "t.toml:43:23: header_read_timeout must be longer than 0, not 0",
            "t.toml:44:16: idle_timeout must be at most 1h, not \"2h\"",
            "t.toml:45:21: body_read_timeout must be at most 1h, not \"61m\"",
            "t.toml:46:19: max_connections must be at least 1, not 0",
        ]
    );
}

#[test]
fn the_servers_limits_are_read() {
    let text = format!(
        "{OFFLINE}[[agents]]\nname = \"a\"\nscript = [{{ text = \"hi\" }}]\n\
         [server]\nheader_read_timeout = \"5s\"\nidle_timeout = 90\nbody_read_timeout = \"1m\"\n\
         max_connections = 64\nshutdown_grace = 0\napproval_sweep = \"2s\"\n"
    );
    let server = Topology::parse("t.toml", text)
        .unwrap()
        .server_config()
        .unwrap();
    assert_eq!(
        server.header_read_timeout,
        std::time::Duration::from_secs(5)
    );
    assert_eq!(server.idle_timeout, std::time::Duration::from_secs(90));
    assert_eq!(server.body_read_timeout, std::time::Duration::from_secs(60));
    assert_eq!(server.max_connections, 64);
    assert_eq!(server.shutdown_grace, std::time::Duration::ZERO);
    assert_eq!(
        server.approval_sweep,
        Some(std::time::Duration::from_secs(2))
    );
    let defaults = Topology::parse(
        "t.toml",
        format!("{OFFLINE}[[agents]]\nname = \"a\"\nscript = [{{ text = \"hi\" }}]\n"),
    )
    .unwrap()
    .server_config()
    .unwrap();
    assert_eq!(
        defaults.header_read_timeout,
        std::time::Duration::from_secs(10)
    );
    assert_eq!(defaults.idle_timeout, std::time::Duration::from_secs(60));
    assert_eq!(
        defaults.body_read_timeout,
        std::time::Duration::from_secs(30)
    );
    assert_eq!(defaults.max_connections, 1024);
    assert_eq!(
        defaults.approval_sweep,
        Some(std::time::Duration::from_secs(30))
    );
}

#[test]
fn the_approval_sweep_may_be_off_but_not_rarer_than_hourly() {
    let server = |sweep: &str| {
        format!(
            "{OFFLINE}[[agents]]\nname = \"a\"\nscript = [{{ text = \"hi\" }}]\n\
             [server]\napproval_sweep = {sweep}\n"
        )
    };
    let off = Topology::parse("t.toml", server("0"))
        .unwrap()
        .server_config()
        .unwrap();
    assert_eq!(off.approval_sweep_interval(), None);
    assert_eq!(
        problems(&server("\"61m\"")),
        [format!(
            "t.toml:{}:18: approval_sweep must be at most 1h, not \"61m\"",
            server("").lines().count()
        )]
    );
}

/// The problems of the file holding `bytes`, as `baton check` prints them.
fn problems_of_bytes(bytes: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.toml");
    std::fs::write(&path, bytes).unwrap();
    let error = Topology::load(&path).unwrap_err();
    let shown = path.display().to_string();
    error
        .problems()
        .iter()
        .map(|problem| problem.to_string().replacen(&shown, "t.toml", 1))
        .collect()
}

#[test]
fn files_that_are_not_utf8_say_where_or_which_encoding() {
    assert_eq!(
        problems_of_bytes(b"[[agents]]\nname = \"caf\xE9\"\n"),
        ["t.toml:2:12: byte 0xE9 is not UTF-8: save the file as UTF-8"]
    );
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain("[[agents]]\n".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    assert_eq!(
        problems_of_bytes(&utf16),
        ["t.toml:1:1: the file is encoded as UTF-16 (little-endian): save it as UTF-8"]
    );
    // A UTF-8 byte order mark is fine, and not a column.
    assert_eq!(
        problems_of_bytes(b"\xEF\xBB\xBFstor = 1\n")[0],
        "t.toml:1:1: unknown field `stor`, expected one of `entry`, `provider`, `store`, \
         `max_handoffs`, `providers`, `tools`, `agents`, `server`"
    );
}

#[test]
fn structures_too_deep_are_refused_on_their_line() {
    let deep = vec!["a"; 5000].join(".");
    let text = format!(
        "{OFFLINE}[[agents]]\nname = \"a\"\nscript = [{{ text = \"hi\" }}]\n\n\n[{deep}]\n"
    );
    // The 64th dot, which opens the 65th table, is at column 1 + 2 * 64.
    assert_eq!(
        only_problem(&text),
        "t.toml:8:129: this nests deeper than 64 levels (each table of a header, dot of a key, \
         array and inline table is one): flatten the structure"
    );
    // Under [providers.offline], two levels deep, the 63rd `[` (at column 5 + 62) is too many.
    let text = format!("{OFFLINE}\n\nx = {}\n", "[".repeat(5000));
    assert_eq!(
        only_problem(&text),
        "t.toml:5:67: this nests deeper than 64 levels (each table of a header, dot of a key, \
         array and inline table is one): flatten the structure"
    );
}

#[test]
fn long_lists_of_names_are_cut_so_many_problems_stay_short() {
    let mut text = OFFLINE.to_owned();
    for i in 0..30 {
        text.push_str(&format!(
            "[[agents]]\nname = \"a{i:02}\"\nhandoffs = [\"zz\"]\nscript = [{{ text = \"hi\" }}]\n"
        ));
    }
    let all = problems(&text);
    assert_eq!(all.len(), 30);
    let names: Vec<String> = (1..21).map(|i| format!("a{i:02}")).collect();
    assert_eq!(
        all[0],
        format!(
            "t.toml:5:13: agent \"a00\" hands off to \"zz\", which is not defined (defined \
             agents: {}, and 9 more)",
            names.join(", ")
        )
    );
}
