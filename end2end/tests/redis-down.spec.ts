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

  execSync(`redis-cli -p ${port} shutdown nosave`);
  await expect(page.getByTestId("banner")).toContainText("Store state");
  await expect(page.getByTestId("entity-count-age")).toContainText("unavailable since");
  // The last figures stay, marked stale; the worker keeps its state, its button its meaning.
  await expect(page.getByTestId("entity-count")).toHaveText("50");
  await expect(page.getByTestId("worker-badge")).toHaveText("running");
  await expect(page.getByTestId("worker-toggle")).toHaveText(button);
  await expect(page.getByTestId("worker-stale")).toContainText("the last state seen");

  execSync(process.env.DOWN_REDIS_START!);
  // Back: the banner goes, and the store shows what it now holds (nothing: no persistence).
  await expect(page.getByTestId("banner")).toHaveCount(0, { timeout: 30_000 });
  await expect(page.getByTestId("entity-count")).toHaveText("0", { timeout: 30_000 });
  await expect(page.getByTestId("entity-count-age")).toContainText("ago");
  await expect(page.getByTestId("worker-last-error")).not.toHaveText("none");
  // The ticks that failed while the page could not see them are counted now.
  await expect(page.getByTestId("worker-stale")).toHaveCount(0);
  await expect
    .poll(async () => Number(await page.getByTestId("worker-failed").innerText()))
    .toBeGreaterThan(failedBefore);
});
