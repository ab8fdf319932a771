import { test, expect } from "@playwright/test";
import { freshStore } from "./helpers";

// The HTTP API as curl sees it: JSON in, JSON out, and a 4xx naming the field for bad input.

test.beforeEach(async ({ request }) => {
  await freshStore(request);
});

test("state reports the true count, ids, both TTLs and both sets of counters", async ({ request }) => {
  const state = await (await request.get("/api/state")).json();
  expect(state.entity_count).toBe(200);
  expect(state.entity_ids.slice(0, 2)).toEqual(["u0001", "u0002"]);
  expect(state.key_prefix).toBe("e2e:user:");
  expect(state.streaming_ttl_seconds).toBe(3);
  // 200 of each of the registry's two entities, each counted by its own index.
  expect(state.store.batch_writes_total).toBe(400);
  expect(state.entities.map((e: { entity: string; count: number }) => [e.entity, e.count])).toEqual([
    ["user", 200],
    ["merchant", 200],
  ]);
  expect(state.worker.running).toBe(true);
});

test("read answers one row per field asked: value, typed value, kind and TTL", async ({ request }) => {
  const res = await request.post("/api/read", {
    data: { user: "u0002", fields: ["account_age_days", "avg_amount_30d", "nope"] },
  });
  expect(res.status()).toBe(200);
  const body = await res.json();
  expect(body.fields.map((f: { name: string }) => f.name)).toEqual([
    "account_age_days",
    "avg_amount_30d",
    "nope",
  ]);
  expect(body.returned_count).toBe(2);
  const [age, amount, nope] = body.fields;
  expect(typeof age.typed).toBe("number");
  expect(String(age.typed)).toBe(age.value);
  expect([age.kind, amount.kind, nope.kind]).toEqual(["batch", "batch", null]);
  expect([age.ttl_seconds, amount.ttl_seconds, nope.ttl_seconds]).toEqual([-1, -1, -2]);
  expect([nope.value, nope.typed]).toEqual([null, null]);
  expect(body.key_ttl_seconds).toBeGreaterThan(86000);
});

test("inspect lists every registry feature then the views' event and write times, and batch-read defaults to six fields", async ({
  request,
}) => {
  const inspected = await (await request.get("/api/inspect?user=u0001")).json();
  expect(inspected.exists).toBe(true);
  const names = inspected.fields.map((f: { name: string }) => f.name);
  // Each view written: its event time `_ts:<view>` and write time `_wt:<view>`.
  expect(names).toHaveLength(11 + 2 + (names.includes("_ts:user_stream") ? 2 : 0));
  expect(names.slice(0, 11).every((name: string) => !name.startsWith("_"))).toBe(true);
  expect(names[11]).toBe("_ts:user_batch");
  expect(names).toContain("_wt:user_batch");
  const missing = await (await request.get("/api/inspect?user=ghost")).json();
  expect(missing.exists).toBe(false);
  expect(missing.fields.every((f: { ttl_seconds: number }) => f.ttl_seconds === -2)).toBe(true);

  const batch = await (await request.post("/api/batch-read", { data: { count: 30 } })).json();
  expect(batch.entity_count).toBe(30);
  expect(batch.fields).toEqual([
    "risk_segment",
    "last_login_ts",
    "last_device_id",
    "tx_count_5m",
    "failed_logins_15m",
    "session_country",
  ]);
  expect(batch.sample).toHaveLength(10);
});

const bad: [string, string, object | string, string][] = [
  ["/api/bulk-load", "bulk count 0", { count: 0, ttl_seconds: 60 }, "count"],
  ["/api/bulk-load", "bulk count 100001", { count: 100001, ttl_seconds: 60 }, "count"],
  ["/api/bulk-load", "TTL 4", { count: 10, ttl_seconds: 4 }, "ttl_seconds"],
  ["/api/bulk-load", "TTL 172801", { count: 10, ttl_seconds: 172801 }, "ttl_seconds"],
  ["/api/batch-read", "batch count 1001", { count: 1001 }, "count"],
  ["/api/read", "empty user", { user: "", fields: ["a"] }, "user"],
  ["/api/read", "over-long user", { user: "u".repeat(200), fields: ["a"] }, "user"],
  ["/api/read", "control characters", { user: "u\u0007", fields: ["a"] }, "user"],
];

for (const [path, name, data, field] of bad) {
  test(`${name} is a 422 naming ${field}, and changes nothing`, async ({ request }) => {
    const res = await request.post(path, { data });
    expect(res.status()).toBe(422);
    const body = await res.json();
    expect(body.error).toBe("invalid_input");
    expect(body.field).toBe(field);
    const state = await (await request.get("/api/state")).json();
    expect(state.entity_count).toBe(200);
  });
}

test("a malformed JSON body is a 400", async ({ request }) => {
  const res = await request.post("/api/bulk-load", {
    headers: { "content-type": "application/json" },
    data: "{count: 5",
  });
  expect(res.status()).toBe(400);
  expect((await res.json()).error).toBe("bad_request");
});

test("responses are compressed when asked; the build's assets are kept when named by content, revalidated (a 304) otherwise", async ({
  request,
}) => {
  // `make test` builds as `make run` does, with content-hashed names (HASHED_ASSETS=1);
  // `cargo leptos end-to-end` builds without them.
  const hashed = process.env.HASHED_ASSETS === "1";
  const headers = { "accept-encoding": "gzip" };
  const page = await request.get("/", { headers });
  const assets = [...new Set((await page.text()).match(/\/pkg\/feature-store(\.[A-Za-z0-9_-]{16,})?\.(js|wasm|css)/g))];
  expect(assets.map((path) => path.split(".").pop()).sort()).toEqual(["css", "js", "wasm"]);
  for (const path of ["/", "/api/state", ...assets]) {
    const response = await request.get(path, { headers });
    expect(response.ok(), path).toBe(true);
    expect(response.headers()["content-encoding"], path).toBe("gzip");
  }
  for (const path of assets) {
    const response = await request.get(path, { headers });
    expect(path.split(".").length, path).toBe(hashed ? 3 : 2);
    expect(response.headers()["cache-control"], path).toBe(
      hashed ? "public, max-age=31536000, immutable" : "no-cache",
    );
    // A revalidation of an unchanged file costs a 304, not the file.
    const since = response.headers()["last-modified"];
    expect(since, path).toBeTruthy();
    const again = await request.get(path, { headers: { ...headers, "if-modified-since": since } });
    expect(again.status(), path).toBe(304);
  }
  // The page itself is never kept: it names the current build's files. Other files are
  // revalidated, never kept by the browser's guess.
  expect(page.headers()["cache-control"] ?? "").not.toContain("immutable");
  expect((await request.get("/favicon.svg")).headers()["cache-control"]).toBe("no-cache");
});
