import type { FullConfig } from "@playwright/test";

/** What the stories need of the server they test; `make test` starts it so. */
const NEEDS =
  "the stories need a server on the prefix e2e:user: with a 3 s streaming TTL and every user " +
  "streamed each second: run `make test`, or `make redis` then `FS_KEY_PREFIX=e2e:user: " +
  "FS_STREAMING_TTL_SECONDS=3 FS_TICK_SECONDS=1 FS_USERS_PER_TICK=200 cargo leptos end-to-end`";

/** Fails the run at once, with one line, when the server is missing or set up otherwise. */
export default async function globalSetup(config: FullConfig) {
  const base = config.projects[0].use.baseURL!;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const response = await fetch(`${base}/api/state`);
      if (response.ok) {
        const state = await response.json();
        if (state.streaming_ttl_seconds !== 3 || state.key_prefix !== "e2e:user:") {
          throw new Error(
            `the server at ${base} has the prefix ${state.key_prefix} and a ${state.streaming_ttl_seconds} s streaming TTL: ${NEEDS}`,
          );
        }
        return;
      }
    } catch (e) {
      if (e instanceof Error && e.message.includes(NEEDS)) throw e;
    }
    if (Date.now() > deadline) throw new Error(`no feature-store answers at ${base}: ${NEEDS}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
