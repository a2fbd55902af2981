//! Scripted models: agents whose provider has `kind = "scripted"` answer with the turns written
//! in the file, chosen by what the model has seen.
//!
//! Each request is answered by the first turn whose conditions all hold:
//!
//! | condition | holds when |
//! |---|---|
//! | `call = N` | this is the agent's Nth model call since the run reached it (from 1) |
//! | `user_contains = "x"` or `["x", "y"]` | the last user message contains one of them (any case) |
//! | `after_tool = "name"` | the latest tool results include one of tool `name` |
//! | `result_contains = "x"` or `[…]` | one of the latest tool results contains one of them (any case) |
//!
//! A turn answers with `text`, tool calls (`tool` + `arguments`, or `tool_calls = [{ tool,
//! arguments }, …]`), a `handoff` (with a `reason`), or text followed by calls. Texts, reasons
//! and string arguments may quote what the model has seen: `{{user}}` (the last user message),
//! `{{result}}` (the latest tool results), `{{tool.NAME}}` (the latest result of tool `NAME`),
//! and a field of a JSON result with a dotted path (`{{result.total}}`,
//! `{{tool.lookup_order.payments.0}}`). A placeholder with nothing to show stays as written.
//!
//! | file | idea |
//! |---|---|
//! | `turn` | a turn as validated: its conditions, text and calls |
//! | `placeholder` | the `{{…}}` forms a text may quote |
//! | `seen` | what the model has seen, which turns hold for it, and texts rendered from it |
//! | `model` | the model of one agent: the chunks answering a request |

#[cfg(feature = "scripted")]
mod model;
mod placeholder;
#[cfg(feature = "scripted")]
mod seen;
mod turn;

#[cfg(feature = "scripted")]
pub(crate) use model::ScriptedModel;
pub(crate) use placeholder::Placeholder;
pub(crate) use turn::{ScriptedCall, Turn, When};
