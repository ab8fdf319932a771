import { test, expect } from "@playwright/test";
import { openApp } from "./helpers";

// The server the Feast SDK check uses afterwards: its batch view has a Parquet source.
const feastURL = process.env.FEAST_BASE_URL;
test.use({ baseURL: feastURL });
// `make test` always sets it; `cargo leptos end-to-end` starts one server, without a source.
test.skip(!feastURL, "no server with a source: FEAST_BASE_URL is unset");

test("a materialization asked through Feast's route in the background shows in the store state, then how it ended", async ({
  page,
  request,
}) => {
  // A window before every row of the file: the run reads them all and writes none, so the
  // Feast SDK check that follows finds the store as it left it.
  const asked = await request.post("/materialize?async=true", {
    data: {
      feature_views: ["user_batch"],
      start_ts: "2000-01-01T00:00:00",
      end_ts: "2000-01-02T00:00:00",
    },
  });
  expect(asked.status()).toBe(202);
  expect(await asked.json()).toEqual({ status: "accepted", feature_views: ["user_batch"] });
  await openApp(page);
  const runs = page.getByTestId("materializations");
  await expect(runs).toContainText(/user_batch \(background\): done \d+ s ago: \d+ rows read, 0 written/);
  await expect(runs.locator(".error")).toHaveCount(0);
  // On a phone the line wraps within the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  const box = await runs.boundingBox();
  expect(box!.x + box!.width).toBeLessThanOrEqual(390);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(overflow).toBeLessThanOrEqual(390);
});
