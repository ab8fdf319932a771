//! The flags both binaries share: where Redis is and which keys are the store's.

use clap::Args;

use crate::domain::KeyPrefix;

/// The dev Redis that `make run` starts; both binaries default to it.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6390";

#[derive(Clone, Debug, Args)]
pub struct StoreArgs {
    /// Redis URL (Redis >= 7.4). Pass a password through the REDIS_URL environment variable,
    /// not on the command line, where `ps` shows it.
    #[arg(long, env = "REDIS_URL", default_value = DEFAULT_REDIS_URL, hide_env_values = true)]
    pub redis_url: String,
    /// Prefix of every entity key; must end with ':'. Only keys of the form prefix + entity id
    /// are ever read, written or deleted.
    #[arg(long, env = "FS_KEY_PREFIX", default_value = "fs:user:", value_parser = KeyPrefix::parse)]
    pub key_prefix: KeyPrefix,
}
