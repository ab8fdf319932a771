import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { test, expect } from "@playwright/test";
import { openApp } from "./helpers";

// A server of its own that this story stops and starts again; `make test` sets it up.
const goneURL = process.env.GONE_BASE_URL;
test.use({ baseURL: goneURL });
test.skip(!goneURL, "no server of its own to stop: GONE_BASE_URL is unset");

test("the feature-store server stopped under a running page: said so in every panel, never blamed on Redis, then recovered", async ({
  page,
}) => {
  await openApp(page);
  await expect(page.getByTestId("entity-count")).toHaveText("20");
  await expect(page.getByTestId("redis-version")).toHaveText(/^\d+\.\d+\.\d+$/);

  process.kill(Number(process.env.GONE_APP_PID), "SIGTERM");
  const gone = "the feature-store server does not answer";
  await expect(page.getByTestId("banner")).toContainText(gone);
  await expect(page.getByTestId("banner")).not.toContainText("Failed to fetch");
  await expect(page.getByTestId("entity-count-age")).toContainText(`unavailable since`);
  await expect(page.getByTestId("entity-count-age")).toContainText(gone);
  await expect(page.getByTestId("worker-stale")).toContainText(gone);
  await expect(page.getByTestId("freshness-stale")).toContainText(gone);
  await expect(page.getByTestId("redis-stale")).toContainText(gone);
  await expect(page.getByTestId("worker-badge")).toHaveClass(/stale/);
  // Redis is up all along: nothing on the page says otherwise.
  await expect(page.locator("body")).not.toContainText(/Redis does not answer|Redis is unavailable|ticks fail/);
  // The last figures stay, marked stale.
  await expect(page.getByTestId("entity-count")).toHaveText("20");

  const server = spawn("bash", ["-c", process.env.GONE_APP_START!], { detached: true, stdio: "ignore" });
  server.unref();
  writeFileSync(process.env.GONE_APP_PIDFILE!, String(server.pid));
  // Back by itself: the banner and every stale mark go, without a reload.
  await expect(page.getByTestId("banner")).toHaveCount(0, { timeout: 30_000 });
  await expect(page.getByTestId("redis-stale")).toHaveCount(0);
  await expect(page.getByTestId("worker-stale")).toHaveCount(0);
  await expect(page.getByTestId("freshness-stale")).toHaveCount(0);
  await expect(page.getByTestId("entity-count-age")).toContainText("ago");
  await expect(page.getByTestId("redis-version")).toHaveText(/^\d+\.\d+\.\d+$/);
});
