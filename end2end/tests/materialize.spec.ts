import { test, expect } from "@playwright/test";
import { openApp } from "./helpers";

test("without a view that has a source, the Materialize panel offers no materialization from files", async ({
  page,
}) => {
  await openApp(page);
  await expect(page.locator("#materialize")).toContainText("Bulk-load");
  await expect(page.getByTestId("source-view")).toHaveCount(0);
});

test.describe("a server whose batch view has a source", () => {
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

  test("the Materialize panel starts a materialization from a view's files and the store state shows it end", async ({
    page,
    request,
  }) => {
    const before = (await (await request.get("/api/state")).json()).materializations.length;
    await page.setViewportSize({ width: 390, height: 844 });
    await openApp(page);
    const panel = page.locator("#materialize");
    // A time the server cannot read is refused, naming the field.
    await page.getByLabel("From", { exact: true }).fill("yesterday");
    await panel.getByRole("button", { name: "Materialize", exact: true }).click();
    await expect(page.getByRole("alert")).toContainText("start");
    // Where an empty From would start: the Feast check's incremental runs come after this.
    await expect(page.getByTestId("sources-starts")).toHaveText(
      /^An empty From starts user_batch (at .+ UTC, where its last incremental run ended|.+ \(its TTL\) before To: no incremental run of it has ended)/,
    );
    // Again a window before every row: read all, write none (see above).
    await page.getByTestId("source-view").selectOption("user_batch");
    await page.getByLabel("From", { exact: true }).fill("2000-01-01");
    await page.getByLabel("To", { exact: true }).fill("2000-01-02 00:00");
    await expect(page.getByRole("alert")).toHaveCount(0);
    await panel.getByRole("button", { name: "Materialize", exact: true }).click();
    await expect(page.getByTestId("sources-result")).toHaveText(
      "Materializing user_batch from 2000-01-01 00:00:00 UTC to 2000-01-02 00:00:00 UTC in the background: Store state shows how it goes.",
    );
    // Its run is the newest of the state's (5 ended ones are kept).
    const runs = page.getByTestId("materializations").locator("div");
    await expect(runs).toHaveCount(Math.min(before + 1, 5));
    await expect(runs.first()).toContainText(
      /user_batch \(background\): done \d+ s ago: \d+ rows read, 0 written; from 2000-01-01 00:00:00 UTC to 2000-01-02 00:00:00 UTC/,
    );
    // A refusal after it leaves no line that reads as if it had started.
    await page.getByLabel("To", { exact: true }).fill("soon");
    await panel.getByRole("button", { name: "Materialize", exact: true }).click();
    await expect(page.getByRole("alert")).toContainText("end");
    await expect(page.getByTestId("sources-result")).toHaveText(/^\s*$/);
    // The form fits a phone's screen.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(overflow).toBeLessThanOrEqual(390);
  });
});
