//! `baton serve`: serve a topology over HTTP (not available in this build yet).

use super::Exit;
use crate::cli::ServeArgs;
use crate::error::CliError;

pub(crate) async fn serve(_args: ServeArgs) -> Result<Exit, CliError> {
    Err(CliError::Server(
        "serving is not available in this build of baton".into(),
    ))
}
