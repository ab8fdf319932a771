import { APIRequestContext, expect, Page } from "@playwright/test";

/** Loads the app and waits until the WASM client has hydrated the page. */
export async function openApp(page: Page) {
  await page.goto("/");
  await expect(page.locator("body[data-hydrated='true']")).toBeAttached({ timeout: 30_000 });
}

/** Holds the page's WASM back until the returned function is called, so "before hydration"
 * lasts as long as a story needs. */
export async function holdWasm(page: Page): Promise<() => void> {
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route("**/*.wasm", async (route) => {
    await held;
    await route.continue();
  });
  return release;
}

/** Puts the store back to how the server starts: 200 users, worker running. */
export async function freshStore(request: APIRequestContext) {
  expect((await request.post("/api/reset")).ok()).toBe(true);
  const loaded = await request.post("/api/bulk-load", { data: { count: 200, ttl_seconds: 86400 } });
  expect(loaded.ok()).toBe(true);
  const state = await (await request.get("/api/state")).json();
  if (!state.worker.running || state.worker.paused) {
    const switched = await (await request.post("/api/worker", { data: { action: "start" } })).json();
    expect(switched).toEqual({ running: true, paused: false });
  }
}

export const BATCH_FIELDS = ["risk_segment", "tx_count_7d", "avg_amount_30d"];
export const STREAMING_FIELDS = ["tx_count_5m", "failed_logins_15m"];

/** The row of `field` in the table with test id `table`. */
export const row = (page: Page, table: string, field: string) =>
  page.getByTestId(table).locator(`tr[data-field="${field}"]`);

/** Seconds of a duration as the UI writes it: "23 h 59 m 58 s", "4 m 05 s", "3 s". */
export function toSeconds(text: string): number {
  const units: Record<string, number> = { d: 86400, h: 3600, m: 60, s: 1 };
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+) ([dhms])\b/g)) total += Number(amount) * units[unit];
  return total;
}
