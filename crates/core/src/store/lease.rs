//! The Redis side of the servers' lease (`crate::lease` keeps time): one key naming the holder
//! with a fencing token that only grows, the fences scripts check that token against, and the
//! small values the holder publishes for the others. Every key is a group key
//! (`link::group_key`), so one script or one `MGET` reaches all of them, on a cluster too.

use redis::{cmd, Script};

use super::link::{group_key, FENCE};
use super::{FeatureStore, StoreError};
use crate::domain::bounded;

const LEASE: &str = "lease";
/// The most of a holder's name shown or logged: the lease key may have been written by anyone.
const HOLDER_CHARS: usize = 100;
const TOKEN: &str = "token";
/// The hash of every server's materializations, a field per server.
const RUNS: &str = "runs";

/// Takes the lease if nobody holds it (a new token, and the fence beside it set to it), renews
/// it if `ARGV[1]` holds it; says who holds it either way.
const TAKE_LUA: &str = r"
-- KEYS: lease, token counter, fence. ARGV: holder, TTL ms, now (Unix ms).
-- Returns {token, since (Unix ms), holder} of whoever holds the lease after the call.
local held = redis.call('GET', KEYS[1])
if held then
  local token, since, holder = string.match(held, '^(%d+) (%d+) (.*)$')
  if not token then return {'0', '0', '?'} end
  if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
  return {token, since, holder}
end
local token = tostring(redis.call('INCR', KEYS[2]))
redis.call('SET', KEYS[1], token .. ' ' .. ARGV[3] .. ' ' .. ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[3], token)
return {token, ARGV[3], ARGV[1]}
";

/// Gives the lease up if `ARGV[1]` holds it.
const RELEASE_LUA: &str = r"
local held = redis.call('GET', KEYS[1])
if held and string.match(held, '^%d+ %d+ (.*)$') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Raises one fence to `ARGV[1]`, never lowers it: a holder that lost the lease while raising
/// cannot undo its successor's fences.
const RAISE_LUA: &str = r"
local current = tonumber(redis.call('GET', KEYS[1])) or 0
if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 0
";

/// Sets `KEYS[2..]` to `ARGV[2..]` only while `ARGV[1]` is the fence's token.
const PUBLISH_LUA: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[i]) end
return 1
";

/// Redis's clock in Unix ms, as a script reads it: every server's runs are timed by it, so a
/// server whose clock is off is neither taken for silent nor kept for ever.
const NOW_LUA: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
";

/// Sets this server's field of the runs hash to `<now> <runs>`; drops the fields of servers
/// silent for `ARGV[3]` ms. Every field when there are at most 64 (HRANDFIELD with a count
/// returns each once), any 64 of a hash someone else filled.
const PUBLISH_RUNS_LUA: &str = r"
-- KEYS: the runs hash. ARGV: this server, its runs (JSON), forget after (ms).
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', now) .. ' ' .. ARGV[2])
local all = redis.call('HRANDFIELD', KEYS[1], 64, 'WITHVALUES')
for i = 1, #all, 2 do
  local said = tonumber(string.match(all[i + 1], '^(%d+) ')) or 0
  if said < now - tonumber(ARGV[3]) then redis.call('HDEL', KEYS[1], all[i]) end
end
return 0
";

/// Redis's clock, and the fields of the runs hash: all of them up to 64.
const READ_RUNS_LUA: &str = r"
return {string.format('%d', now), redis.call('HRANDFIELD', KEYS[1], 64, 'WITHVALUES')}
";

/// A lease token a write is made under, with the group whose fences check it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    pub group: String,
    pub token: u64,
}

/// Who holds a lease, under which token, since when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holding {
    pub holder: String,
    pub token: u64,
    pub since_unix_ms: u64,
}

impl FeatureStore {
    /// Takes `group`'s lease for `holder` for `ttl_ms`, or renews it if `holder` has it; who
    /// holds it after the call (`holder` or another).
    pub async fn take_lease(
        &self,
        group: &str,
        holder: &str,
        ttl_ms: u64,
        now_unix_ms: u64,
    ) -> Result<Holding, StoreError> {
        let keys = [LEASE, TOKEN, FENCE].map(|name| group_key(group, name));
        let (token, since, holder): (String, String, String) = self
            .timed(
                "lease",
                self.eval_script(
                    TAKE_LUA,
                    &keys,
                    &[holder, &ttl_ms.to_string(), &now_unix_ms.to_string()],
                ),
            )
            .await?;
        Ok(Holding {
            holder: bounded(&holder, HOLDER_CHARS),
            token: token.parse().unwrap_or(0),
            since_unix_ms: since.parse().unwrap_or(0),
        })
    }

    /// Gives `group`'s lease up if `holder` has it, so another takes over at once.
    pub async fn release_lease(&self, group: &str, holder: &str) -> Result<bool, StoreError> {
        let released: i64 = self
            .timed(
                "lease",
                self.eval_script(RELEASE_LUA, &[group_key(group, LEASE)], &[holder]),
            )
            .await?;
        Ok(released == 1)
    }

    /// Raises every fence of `group` to `token` (one per slot on a cluster, in one pipeline per
    /// master): after this, a write under an older token is refused wherever it lands.
    pub async fn raise_fences(&self, group: &str, token: u64) -> Result<(), StoreError> {
        let script = Script::new(RAISE_LUA);
        self.link.load_script(RAISE_LUA).await?;
        let raises = self
            .link
            .fence_keys(group)
            .into_iter()
            .map(|key| {
                let mut raise = cmd("EVALSHA");
                raise.arg(script.get_hash()).arg(1).arg(&key).arg(token);
                (key, raise)
            })
            .collect();
        for raised in self
            .timed("lease", self.link.per_key::<i64>(raises))
            .await?
        {
            raised?;
        }
        Ok(())
    }

    /// Sets the group keys `values` names while `token` is the lease's latest; false, having
    /// written nothing, when another holder has taken the lease since.
    pub async fn publish_fenced(
        &self,
        group: &str,
        token: u64,
        values: &[(&str, String)],
    ) -> Result<bool, StoreError> {
        let mut keys = vec![group_key(group, FENCE)];
        keys.extend(values.iter().map(|(name, _)| group_key(group, name)));
        let token = token.to_string();
        let mut args = vec![token.as_str()];
        args.extend(values.iter().map(|(_, value)| value.as_str()));
        let published: i64 = self
            .timed("lease", self.eval_script(PUBLISH_LUA, &keys, &args))
            .await?;
        Ok(published == 1)
    }

    /// The group keys `names` (`None` for an absent one) and who holds the lease, in one `MGET`.
    pub async fn read_group(
        &self,
        group: &str,
        names: &[&str],
    ) -> Result<(Option<Holding>, Vec<Option<String>>), StoreError> {
        let keys: Vec<String> = std::iter::once(LEASE)
            .chain(names.iter().copied())
            .map(|name| group_key(group, name))
            .collect();
        let mut values: Vec<Option<String>> = self
            .timed("lease", self.link.query(&keys[0], cmd("MGET").arg(&keys)))
            .await?;
        let lease = values.remove(0).and_then(|held| parse_holding(&held));
        Ok((lease, values))
    }

    /// Sets one group key: a command to the holder, such as a pause.
    pub async fn set_group(&self, group: &str, name: &str, value: &str) -> Result<(), StoreError> {
        let key = group_key(group, name);
        let _: redis::Value = self
            .timed(
                "lease",
                self.link.query(&key, cmd("SET").arg(&key).arg(value)),
            )
            .await?;
        Ok(())
    }

    /// Sets `server`'s materializations in `group`'s runs hash to `runs` (JSON), timed by
    /// Redis's clock, and drops those of the servers silent for `forget_after_ms`.
    pub async fn publish_runs(
        &self,
        group: &str,
        server: &str,
        runs: &str,
        forget_after_ms: u64,
    ) -> Result<(), StoreError> {
        let keys = [group_key(group, RUNS)];
        let script = format!("{NOW_LUA}{PUBLISH_RUNS_LUA}");
        let forget_after = forget_after_ms.to_string();
        let _: i64 = self
            .timed(
                "lease",
                self.eval_script(&script, &keys, &[server, runs, &forget_after]),
            )
            .await?;
        Ok(())
    }

    /// Redis's clock (Unix ms) and every server's materializations in `group`'s runs hash (at
    /// most 64), as each last wrote them (`<Unix ms by Redis's clock> <JSON>`).
    pub async fn read_runs(&self, group: &str) -> Result<(u64, Vec<(String, String)>), StoreError> {
        let keys = [group_key(group, RUNS)];
        let script = format!("{NOW_LUA}{READ_RUNS_LUA}");
        let (now, fields): (String, Vec<String>) = self
            .timed("lease", self.eval_script(&script, &keys, &[]))
            .await?;
        let mut fields = fields.into_iter();
        let mut runs = Vec::new();
        while let (Some(server), Some(value)) = (fields.next(), fields.next()) {
            runs.push((server, value));
        }
        Ok((now.parse().unwrap_or(0), runs))
    }

    /// Runs a script on keys of one slot (routed by the first), loading it where it is missing.
    async fn eval_script<T: redis::FromRedisValue + Send>(
        &self,
        source: &str,
        keys: &[String],
        args: &[&str],
    ) -> Result<T, StoreError> {
        let mut evalsha = cmd("EVALSHA");
        evalsha
            .arg(Script::new(source).get_hash())
            .arg(keys.len())
            .arg(keys)
            .arg(args);
        self.link.eval(&keys[0], source, &evalsha).await
    }
}

fn parse_holding(held: &str) -> Option<Holding> {
    let mut parts = held.splitn(3, ' ');
    Some(Holding {
        token: parts.next()?.parse().ok()?,
        since_unix_ms: parts.next()?.parse().ok()?,
        holder: bounded(parts.next()?, HOLDER_CHARS),
    })
}
