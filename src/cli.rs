//! The flags both binaries share: where Redis is, which features exist, and which keys are the
//! store's.

use std::path::PathBuf;

use clap::Args;

use crate::domain::KeyPrefix;
use crate::registry::Registry;
use crate::registry_file::{self, RegistryError};

/// The dev Redis that `make run` starts; both binaries default to it.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6390";

#[derive(Clone, Debug, Args)]
pub struct StoreArgs {
    /// Redis URL (Redis >= 7.4). Pass a password through the REDIS_URL environment variable,
    /// not on the command line, where `ps` shows it.
    #[arg(long, env = "REDIS_URL", default_value = DEFAULT_REDIS_URL, hide_env_values = true)]
    pub redis_url: String,
    /// The feature registry (TOML): the entity, its key prefix and its feature views. Without
    /// it, the built-in demo registry (the repository's features.toml).
    #[arg(long = "features", env = "FS_FEATURES", value_name = "FILE")]
    pub features_file: Option<PathBuf>,
    /// Prefix of the first entity's keys, overriding the registry's (default fs:user:); must
    /// end with ':'. Each other entity's becomes it with `.<entity>` before the last ':'
    /// (fs:user.merchant:). Only keys of the form prefix + entity id are ever read, written or
    /// deleted.
    #[arg(long, env = "FS_KEY_PREFIX", value_parser = KeyPrefix::parse)]
    pub key_prefix: Option<KeyPrefix>,
}

impl StoreArgs {
    /// The registry file (or the built-in one), with the prefix and TTLs the flags override.
    pub fn registry(
        &self,
        batch_ttl_seconds: Option<u64>,
        streaming_ttl_seconds: Option<u64>,
    ) -> Result<Registry, RegistryError> {
        registry_file::load(self.features_file.as_deref())?
            .with_overrides(
                self.key_prefix.as_ref(),
                batch_ttl_seconds,
                streaming_ttl_seconds,
            )
            .map_err(RegistryError::KeyPrefix)
    }
}
