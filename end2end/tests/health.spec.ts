import { test, expect } from "@playwright/test";
import { openApp } from "./helpers";

test("the page hydrates and re-checks the Redis version through the server function", async ({
  page,
  request,
}) => {
  const api = await (await request.get("/api/health")).json();
  expect(api.ok).toBe(true);
  expect(api.redis_version).toMatch(/^\d+\.\d+\.\d+$/);

  await openApp(page);
  const version = page.getByTestId("redis-version");
  await expect(version).toHaveText(api.redis_version);

  const recheck = page.waitForResponse((r) => r.url().includes("/api/health") && r.ok());
  await page.getByRole("button", { name: "Re-check" }).click();
  await recheck;
  await expect(version).toHaveText(api.redis_version);
  await expect(page.getByTestId("key-prefix")).toHaveText("e2e:user:");
});
