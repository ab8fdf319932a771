import { execSync } from "node:child_process";
import { test, expect } from "@playwright/test";
import { openApp } from "./helpers";

// A server on a Redis of its own that this story stops and starts again; `make test` sets it up.
const downURL = process.env.DOWN_BASE_URL;
const port = process.env.DOWN_REDIS_PORT;
test.use({ baseURL: downURL });
test.skip(!downURL, "no server on a Redis of its own: DOWN_BASE_URL is unset");

test("Redis stopped and started again under a running page: shown as unavailable, never as something else, then recovered", async ({
  page,
}) => {
  await openApp(page);
  await expect(page.getByTestId("entity-count")).toHaveText("50");
  await expect(page.getByTestId("worker-badge")).toHaveText("running");
  const button = await page.getByTestId("worker-toggle").innerText();
  const failedBefore = Number(await page.getByTestId("worker-failed").innerText());
  // Results on screen before Redis loses its data.
  await page.getByRole("button", { name: "Inspect", exact: true }).click();
  await expect(page.getByTestId("inspect-table")).toBeVisible();
  await page.getByRole("button", { name: "Pipeline HMGET" }).click();
  await expect(page.getByTestId("batch-sample")).toBeVisible();

  execSync(`redis-cli -p ${port} shutdown nosave`);
  await expect(page.getByTestId("banner")).toContainText("Store state");
  await expect(page.getByTestId("entity-count-age")).toContainText("unavailable since");
  // The last figures stay, marked stale; the worker keeps its state, its button its meaning.
  await expect(page.getByTestId("entity-count")).toHaveText("50");
  await expect(page.getByTestId("worker-badge")).toHaveText("running");
  await expect(page.getByTestId("worker-toggle")).toHaveText(button);
  await expect(page.getByTestId("worker-stale")).toContainText("the last state seen");
  // The Redis panel says so too, and its Re-check asks Redis rather than repeating the start.
  await expect(page.getByTestId("redis-stale")).toContainText("Not answering since");
  await page.getByRole("button", { name: "Re-check" }).click();
  // Refused at once, or timed out while the client reconnects: either way, Redis's answer.
  await expect(page.locator("#health")).toContainText(/Redis is unavailable|Redis did not answer within/);
  await expect(page.getByTestId("redis-version")).toHaveCount(0);

  // A tick has failed before Redis comes back (/metrics needs no Redis), so the error below
  // is there to be seen.
  await expect
    .poll(
      async () => {
        const metrics = await (await page.request.get("/metrics")).text();
        return Number(metrics.match(/^feature_store_worker_errors_total (\d+)/m)?.[1] ?? 0);
      },
      { timeout: 10_000 },
    )
    .toBeGreaterThan(failedBefore);

  execSync(process.env.DOWN_REDIS_START!);
  // Back: the banner goes, and the store shows what it now holds (nothing: no persistence).
  await expect(page.getByTestId("banner")).toHaveCount(0, { timeout: 30_000 });
  await expect(page.getByTestId("entity-count")).toHaveText("0", { timeout: 30_000 });
  // The data is gone, so are the results read from it.
  await expect(page.getByTestId("inspect-table")).toHaveCount(0);
  await expect(page.getByTestId("batch-sample")).toHaveCount(0);
  await expect(page.getByTestId("entity-count-age")).toContainText("ago");
  // The Redis panel follows by itself, without Re-check.
  await expect(page.getByTestId("redis-version")).toHaveText(/^\d+\.\d+\.\d+$/);
  await expect(page.locator("#health")).not.toContainText(/Redis is unavailable|did not answer/);
  // The error the worker met, when, and that it has written since (once there is someone to
  // write to: the restarted Redis is empty).
  await page.getByRole("button", { name: "Bulk-load" }).click();
  await expect(page.getByTestId("entity-count")).toHaveText("200", { timeout: 15_000 });
  await expect(page.getByTestId("worker-last-error")).toHaveText(
    /\(at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC; [1-9]\d* writes since\)$/,
    { timeout: 15_000 },
  );
  await expect(page.getByTestId("redis-stale")).toHaveCount(0);
  await page.getByRole("button", { name: "Re-check" }).click();
  await expect(page.getByTestId("redis-version")).toHaveText(/^\d+\.\d+\.\d+$/);
  // The ticks that failed while the page could not see them are counted now.
  await expect(page.getByTestId("worker-stale")).toHaveCount(0);
  await expect
    .poll(async () => Number(await page.getByTestId("worker-failed").innerText()))
    .toBeGreaterThan(failedBefore);
});

test("a frozen Redis (SIGSTOP) shows within 2 s in every panel, never as healthy", async ({ page }) => {
  await openApp(page);
  await expect(page.getByTestId("worker-badge")).toHaveText("running");
  await expect(page.getByTestId("banner")).toHaveCount(0);
  const pid = execSync(`redis-cli -p ${port} info server`)
    .toString()
    .match(/process_id:(\d+)/)![1];
  execSync(`kill -STOP ${pid}`);
  try {
    const frozenAt = Date.now();
    await expect(page.getByTestId("banner")).toContainText("Store state", { timeout: 2_500 });
    await expect(page.getByTestId("worker-stale")).toBeVisible({ timeout: 2_500 });
    await expect(page.getByTestId("freshness-stale")).toBeVisible({ timeout: 2_500 });
    await expect(page.getByTestId("redis-stale")).toBeVisible({ timeout: 2_500 });
    // The worker's last known state, greyed: not a green "running" while every tick fails.
    await expect(page.getByTestId("worker-badge")).toHaveClass(/stale/);
    expect(Date.now() - frozenAt).toBeLessThan(3_000);
  } finally {
    execSync(`kill -CONT ${pid}`);
  }
  await expect(page.getByTestId("banner")).toHaveCount(0, { timeout: 15_000 });
  await expect(page.getByTestId("worker-badge")).not.toHaveClass(/stale/);
  await expect(page.getByTestId("freshness-stale")).toHaveCount(0);
});

test("Redis restarted and refilled while the page was hidden: the page sees the new run id and clears what it had read", async ({
  page,
}) => {
  await openApp(page);
  const before = (await (await page.request.get("/api/state")).json()).redis_run_ids;
  expect(before).toHaveLength(1);
  await page.getByRole("button", { name: "Read", exact: true }).click();
  await expect(page.getByTestId("read-table")).toBeVisible();
  await page.getByRole("button", { name: "Inspect", exact: true }).click();
  await expect(page.getByTestId("inspect-table")).toBeVisible();
  await page.getByRole("button", { name: "Pipeline HMGET" }).click();
  await expect(page.getByTestId("batch-sample")).toBeVisible();
  const count = await page.getByTestId("entity-count").innerText();

  // The tab is hidden (the poll pauses), so the page never sees the store empty in between.
  await page.evaluate(() => Object.defineProperty(document, "hidden", { value: true, configurable: true }));
  execSync(`redis-cli -p ${port} shutdown nosave`);
  execSync(process.env.DOWN_REDIS_START!);
  await expect.poll(async () => (await page.request.get("/api/state")).status(), { timeout: 30_000 }).toBe(200);
  const refilled = await page.request.post("/api/bulk-load", { data: { count: Number(count), ttl_seconds: 86400 } });
  expect(refilled.ok()).toBe(true);
  const after = (await (await page.request.get("/api/state")).json()).redis_run_ids;
  expect(after).toHaveLength(1);
  expect(after).not.toEqual(before);

  await page.evaluate(() => Object.defineProperty(document, "hidden", { value: false, configurable: true }));
  // Same count as before, other data: what was read from the old Redis is gone from the page.
  await expect(page.getByTestId("inspect-table")).toHaveCount(0);
  await expect(page.getByTestId("read-table")).toHaveCount(0);
  await expect(page.getByTestId("batch-sample")).toHaveCount(0);
  await expect(page.getByTestId("entity-count")).toHaveText(count);
});
