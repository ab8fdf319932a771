import { test, expect } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { BATCH_FIELDS, STREAMING_FIELDS, freshStore, holdWasm, openApp, row, toSeconds } from "./helpers";

test.beforeEach(async ({ request }) => {
  await freshStore(request);
});

test("the page loads, hydrates and shows 200 users", async ({ page }, testInfo) => {
  await openApp(page);
  await expect(page.getByTestId("entity-count")).toHaveText("200");
  await expect(page.getByTestId("streaming-ttl")).toHaveText("3 s");
  await expect(page.getByTestId("worker-badge")).toHaveText("running");
  await expect(page.locator("#read-user-ids option")).toHaveCount(200);
  await page.screenshot({ path: testInfo.outputPath("full-page.png"), fullPage: true });
});

test("the Read and Inspect panels show the exact command for the current input", async ({ page }) => {
  await openApp(page);
  await page.locator("#read-user").fill("u0007");
  await expect(page.getByTestId("read-command")).toHaveText(
    "HMGET e2e:user:u0007 risk_segment tx_count_7d avg_amount_30d tx_count_5m failed_logins_15m",
  );
  await page.locator(`#read-${BATCH_FIELDS[0]}`).uncheck();
  await expect(page.getByTestId("read-command")).not.toContainText(BATCH_FIELDS[0]);
  await expect(page.getByTestId("inspect-command")).toHaveText(/^HGETALL e2e:user:u\d{4}$/);
});

test("a mixed read shows batch fields without a field TTL and streaming fields with one", async ({
  page,
}) => {
  await openApp(page);
  await page.locator("#read-user").fill("u0007");
  // Right after the reset the worker may not have ticked yet: read until it has.
  await expect(async () => {
    await page.getByRole("button", { name: "Read", exact: true }).click();
    await expect(page.getByTestId("read-summary")).toContainText("u0007: 5 of 5 fields", {
      timeout: 1000,
    });
  }).toPass({ timeout: 10_000 });
  for (const field of BATCH_FIELDS) {
    await expect(row(page, "read-table", field).locator("td.ttl")).toHaveText("no field TTL");
  }
  for (const field of STREAMING_FIELDS) {
    await expect(row(page, "read-table", field).locator("td.ttl")).toHaveText(/^[1-3] s$/);
  }
});

test("pausing the worker lets streaming fields expire while batch fields stay; resuming brings them back", async ({
  page,
}) => {
  await openApp(page);
  await page.getByTestId("worker-toggle").click();
  await expect(page.getByTestId("worker-badge")).toHaveText("paused");

  await page.locator("#read-user").fill("u0003");
  await page.getByRole("button", { name: "Read", exact: true }).click();
  await page.locator("#inspect-user").fill("u0003");
  await page.getByRole("button", { name: "Inspect", exact: true }).click();
  // No new reads: the countdown reaches 0 and the tables re-sync by themselves.
  for (const field of STREAMING_FIELDS) {
    await expect(row(page, "read-table", field).locator("td.value")).toHaveText("missing or expired");
    await expect(row(page, "inspect-table", field).locator("td.ttl")).toHaveText("missing");
  }
  for (const field of BATCH_FIELDS) {
    await expect(row(page, "read-table", field).locator("td.ttl")).toHaveText("no field TTL");
    await expect(row(page, "inspect-table", field).locator("td.value")).not.toHaveText("missing or expired");
  }

  await page.getByTestId("worker-toggle").click();
  await expect(page.getByTestId("worker-badge")).toHaveText("running");
  await expect(async () => {
    await page.getByRole("button", { name: "Read", exact: true }).click();
    await expect(page.getByTestId("read-summary")).toContainText("5 of 5 fields", { timeout: 1000 });
  }).toPass({ timeout: 10_000 });
});

test("a TTL counts down in the browser", async ({ page }) => {
  await openApp(page);
  await page.locator("#inspect-user").fill("u0001");
  await page.getByRole("button", { name: "Inspect", exact: true }).click();
  const summary = page.getByTestId("inspect-summary");
  await expect(summary).toContainText("key TTL");
  const seconds = async () => toSeconds((await summary.textContent())!.split("key TTL ")[1]);
  const first = await seconds();
  await expect.poll(seconds, { timeout: 5000 }).toBeLessThan(first);
  // The 11 features, then the event and write times of the batch view (and of the streaming
  // one, once the worker has written it).
  const rows = page.getByTestId("inspect-table").locator("tbody tr");
  await expect(rows.nth(11)).toHaveAttribute("data-field", "_ts:user_batch");
  expect(await rows.count()).toBeLessThanOrEqual(15);
});

test("bulk-loading 50 users with a 5 s TTL after a reset, the count falls to 0 by itself", async ({
  page,
}) => {
  await openApp(page);
  page.once("dialog", (dialog) => dialog.accept());
  await page.getByRole("button", { name: "Reset store" }).click();
  await expect(page.getByTestId("entity-count")).toHaveText("0");
  await page.getByLabel("Users", { exact: true }).first().fill("50");
  await page.getByLabel("Key TTL (s)").fill("5");
  await page.getByRole("button", { name: "Bulk-load" }).click();
  // In the order they happened.
  await expect(page.getByTestId("bulk-result")).toHaveText(/Reset deleted \d+ entities\. Loaded 50 users, 50 merchants with a 5 s key TTL/);
  await expect(page.getByTestId("entity-count")).toHaveText("50");
  await expect(page.getByTestId("entity-count")).toHaveText("0", { timeout: 15_000 });
});

test("batch scoring of 100 users shows the sample", async ({ page }) => {
  await openApp(page);
  await page.getByRole("button", { name: "Pipeline HMGET" }).click();
  await expect(page.getByTestId("batch-summary")).toContainText("100 users × 6 fields");
  await expect(page.getByTestId("batch-sample").locator("tbody tr")).toHaveCount(10);
  await expect(page.getByTestId("batch-sample").locator("tbody tr").first()).toContainText("u0001");
});

test("batch scoring of pasted ids keeps their order and shows an unknown id as empty", async ({ page }) => {
  await openApp(page);
  await page.getByLabel("or these ids").fill("u0003, ghost\nu0001");
  await page.getByRole("button", { name: "Pipeline HMGET" }).click();
  await expect(page.getByTestId("batch-summary")).toContainText("3 users × 6 fields");
  const rows = page.getByTestId("batch-sample").locator("tbody tr");
  await expect(rows).toHaveCount(3);
  await expect(rows.nth(0)).toContainText("u0003");
  await expect(rows.nth(1)).toContainText("ghost");
  await expect(rows.nth(1)).toContainText("0 / 6");
  await expect(rows.nth(2)).toContainText("u0001");
});

test("reset asks for confirmation, and only then empties the store", async ({ page }) => {
  await openApp(page);
  await expect(page.getByTestId("entity-count")).toHaveText("200");
  page.once("dialog", (dialog) => dialog.dismiss());
  await page.getByRole("button", { name: "Reset store" }).click();
  await expect(page.getByTestId("entity-count")).toHaveText("200");
  page.once("dialog", (dialog) => {
    expect(dialog.type()).toBe("confirm");
    dialog.accept();
  });
  await page.getByRole("button", { name: "Read", exact: true }).click();
  await expect(page.getByTestId("read-table")).toBeVisible();
  await page.getByRole("button", { name: "Inspect", exact: true }).click();
  await expect(page.getByTestId("inspect-table")).toBeVisible();
  await page.getByRole("button", { name: "Pipeline HMGET" }).click();
  await expect(page.getByTestId("batch-sample")).toBeVisible();
  await page.getByRole("button", { name: "Reset store" }).click();
  await expect(page.getByTestId("bulk-result")).toContainText("Reset deleted");
  await expect(page.getByTestId("entity-count")).toHaveText("0");
  // What was read before the reset is gone, and nothing can be read without a user.
  await expect(page.getByTestId("read-table")).toHaveCount(0);
  await expect(page.getByTestId("inspect-table")).toHaveCount(0);
  await expect(page.getByTestId("batch-sample")).toHaveCount(0);
  await expect(page.getByTestId("batch-summary")).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Read", exact: true })).toBeDisabled();
  await expect(page.getByRole("button", { name: "Inspect", exact: true })).toBeDisabled();
});

test("bad input shows an error banner and changes nothing", async ({ page }) => {
  await openApp(page);
  const users = page.getByLabel("Users", { exact: true }).first();
  await users.fill("0");
  await page.getByRole("button", { name: "Bulk-load" }).click();
  await expect(page.getByTestId("banner")).toContainText("invalid count: must be between 1 and 100000");
  await users.fill("10");
  await page.getByLabel("Key TTL (s)").fill("1");
  await page.getByRole("button", { name: "Bulk-load" }).click();
  await expect(page.getByTestId("banner")).toContainText("invalid ttl_seconds: must be between 5 and 172800");
  await expect(page.getByTestId("entity-count")).toHaveText("200");
  // The 200 users and 200 merchants of the last load, and nothing since.
  await expect(page.getByTestId("batch-writes")).toHaveText("400");
  await expect(page.getByTestId("entity-counts")).toHaveText(
    "user 200 at e2e:user: · merchant 200 at e2e:user.merchant:",
  );
});

test("the layout fits a 390 px phone screen", async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await openApp(page);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(overflow).toBeLessThanOrEqual(390);
  await expect(page.getByRole("button", { name: "Pipeline HMGET" })).toBeVisible();
  // The inference read comes first, without scrolling past the other panels.
  const read = await page.locator("#read").boundingBox();
  expect(read!.y).toBeLessThan(844);
  // A label stays on the line of its input.
  const label = await page.locator("label[for=bulk-ttl]").boundingBox();
  const input = await page.locator("#bulk-ttl").boundingBox();
  expect(Math.abs(label!.y + label!.height / 2 - (input!.y + input!.height / 2))).toBeLessThan(8);
});

test("the freshness panel draws the worker's age climbing after Pause and falling after Resume", async ({
  page,
}) => {
  await openApp(page);
  const age = async () => parseFloat(await page.getByTestId("worker-age").innerText());
  await expect.poll(age, { timeout: 10_000 }).toBeLessThan(1.5);
  await expect(page.getByTestId("worker-line")).toHaveAttribute("points", /\d/);

  await page.getByTestId("worker-toggle").click();
  await expect(page.getByTestId("worker-badge")).toHaveText("paused");
  await expect.poll(age, { timeout: 10_000 }).toBeGreaterThan(3);

  await page.getByTestId("worker-toggle").click();
  await expect(page.getByTestId("worker-badge")).toHaveText("running");
  await expect.poll(age, { timeout: 10_000 }).toBeLessThan(1.5);
});

test("the freshness panel shows read latency from the server's histograms once reads happen", async ({
  page,
}) => {
  await openApp(page);
  await expect(page.getByTestId("read-latency")).toHaveText(/no reads in the last minute|p50/);
  for (let i = 0; i < 3; i++) {
    await page.getByRole("button", { name: "Read", exact: true }).click();
    await expect(page.getByTestId("read-summary")).toBeVisible();
  }
  await expect(page.getByTestId("read-latency")).toHaveText(/^p50 [\d.]+ (µs|ms) · p99 [\d.]+ (µs|ms) \(\d+ reads?\)$/, {
    timeout: 10_000,
  });
  await expect(page.getByTestId("p99-line")).toHaveAttribute("points", /\d/);
  await expect(page.getByTestId("latency-caption")).toHaveText(/; top: [\d.]+ (µs|ms)$/);
});

test("Enter submits a form, and a changed input clears that panel's error", async ({ page }) => {
  await openApp(page);
  await page.getByLabel("Key TTL (s)").fill("1");
  await page.getByLabel("Key TTL (s)").press("Enter");
  await expect(page.getByTestId("banner")).toContainText("invalid ttl_seconds");
  await page.getByLabel("Key TTL (s)").fill("600");
  await expect(page.getByTestId("banner")).toHaveCount(0);
  await page.locator("#batch-count").fill("7");
  await page.locator("#batch-count").press("Enter");
  await expect(page.getByTestId("batch-summary")).toContainText("7 users");
});

test("before hydration, on a 4x slower CPU, every control is disabled and says why: a click does nothing, and nothing typed is lost", async ({ page }) => {
  // A slow phone: the CPU throttled 4x (Chromium's DevTools protocol), and the WASM held back
  // until the story lets it go, so "before hydration" lasts as long as the checks need.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Emulation.setCPUThrottlingRate", { rate: 4 });
  const release = await holdWasm(page);
  await page.goto("/");
  const address = page.url();
  await expect(page.getByTestId("starting")).toBeVisible();
  const read = page.getByRole("button", { name: "Read", exact: true });
  await expect(read).toBeDisabled();
  await expect(page.getByRole("button", { name: "Bulk-load" })).toBeDisabled();
  // Inputs too: hydration would overwrite what was typed into them.
  await expect(page.locator("#read-user")).toBeDisabled();
  await expect(page.locator("#batch-count")).toBeDisabled();
  // A click on the disabled button does nothing: no reload, no half-done request, no result
  // shown from a read that never ran.
  await read.click({ force: true });
  expect(page.url()).toBe(address);
  await expect(page.getByTestId("read-summary")).toHaveCount(0);
  release();
  await expect(page.locator("body[data-hydrated='true']")).toBeAttached({ timeout: 60_000 });
  await expect(page.getByTestId("starting")).toBeHidden();
  await expect(read).toBeEnabled();
  await expect(page.locator("#read-user")).toBeEnabled();
  await read.click();
  await expect(page.getByTestId("read-summary")).toBeVisible();
  await cdp.send("Emulation.setCPUThrottlingRate", { rate: 1 });
});

test("the state poll pauses while the tab is hidden", async ({ page }) => {
  await openApp(page);
  let polls = 0;
  page.on("request", (request) => {
    if (request.url().includes("/api/state")) polls++;
  });
  await expect.poll(() => polls, { timeout: 5_000 }).toBeGreaterThan(1);
  await page.evaluate(() => Object.defineProperty(document, "hidden", { value: true, configurable: true }));
  await page.waitForTimeout(1_200); // a poll already in flight may still land
  const whileHidden = polls;
  await page.waitForTimeout(2_500);
  expect(polls).toBe(whileHidden);
  await page.evaluate(() => Object.defineProperty(document, "hidden", { value: false, configurable: true }));
  await expect.poll(() => polls, { timeout: 5_000 }).toBeGreaterThan(whileHidden);
});

test("times and durations read as people write them, the raw value on hover", async ({ page }) => {
  await openApp(page);
  const login = row(page, "inspect-table", "last_login_ts").locator("td.value");
  // Inspect again until the worker has streamed this user since the store was refilled.
  await expect(async () => {
    await page.getByRole("button", { name: "Inspect", exact: true }).click();
    await expect(login).toHaveText(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/, { timeout: 1_000 });
  }).toPass({ timeout: 10_000 });
  await expect(login).toHaveAttribute("title", /^\d{13}$/);
  await expect(page.getByTestId("inspect-summary")).toContainText(/key TTL 23 h 59 m \d\d s/);
});

test("the dark theme follows the system setting", async ({ page }) => {
  await page.emulateMedia({ colorScheme: "dark" });
  await openApp(page);
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  expect(background).toBe("rgb(17, 20, 24)");
});

for (const colorScheme of ["light", "dark"] as const) {
  test(`axe finds no accessibility violations in the ${colorScheme} theme, results on screen`, async ({ page }) => {
    await page.emulateMedia({ colorScheme });
    await openApp(page);
    await page.getByRole("button", { name: "Read", exact: true }).click();
    await expect(page.getByTestId("read-table")).toBeVisible();
    await page.getByRole("button", { name: "Pipeline HMGET" }).click();
    await expect(page.getByTestId("batch-sample")).toBeVisible();
    const results = await new AxeBuilder({ page }).analyze();
    const found = results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
    expect(found).toEqual([]);
  });
}

test("any id can be typed, beyond the ids the page lists", async ({ page, request }) => {
  // The page lists the first 500; u0600 is only reachable by typing it.
  expect((await request.post("/api/bulk-load", { data: { count: 600, ttl_seconds: 600 } })).ok()).toBe(true);
  await openApp(page);
  await expect(page.locator("#inspect-user-ids option")).toHaveCount(500);
  await page.locator("#inspect-user").fill("u0600");
  await page.locator("#inspect-user").press("Enter");
  await expect(page.getByTestId("inspect-summary")).toContainText("u0600 · key TTL");
  await page.locator("#inspect-user").fill("nobody");
  await page.locator("#inspect-user").press("Enter");
  await expect(page.getByTestId("inspect-summary")).toContainText("nobody does not exist");
});

test("batch scoring reads the features ticked in its own picker and names them", async ({ page }) => {
  await openApp(page);
  for (const field of ["last_login_ts", "last_device_id", "tx_count_5m", "failed_logins_15m", "session_country"]) {
    await page.locator(`#batch-${field}`).uncheck();
  }
  await page.locator("#batch-tx_count_7d").check();
  await page.locator("#batch-count").fill("5");
  await page.getByRole("button", { name: "Pipeline HMGET" }).click();
  await expect(page.getByTestId("batch-summary")).toContainText("5 users × 2 fields");
  await expect(page.getByTestId("batch-summary")).toContainText("risk_segment, tx_count_7d");
  await expect(page.getByTestId("batch-summary")).toContainText("µs per user");
  await expect(page.getByTestId("batch-sample").locator("tbody tr").first()).toContainText("2 / 2");
});

test("a panel's command is copied with one click, and streaming TTLs show as bars", async ({ page, context }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await openApp(page);
  await page.getByRole("button", { name: "Read", exact: true }).click();
  await expect(page.getByTestId("read-table")).toBeVisible();
  await page.getByTestId("read-command-copy").click();
  await expect(page.getByTestId("read-command-copy")).toHaveText("Copied");
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  expect(copied).toBe(await page.getByTestId("read-command").innerText());
  // Read again until the worker has streamed this user since the store was refilled.
  await expect(async () => {
    await page.getByRole("button", { name: "Read", exact: true }).click();
    await expect(row(page, "read-table", "tx_count_5m").locator(".bar")).toHaveCount(1, { timeout: 1_000 });
  }).toPass({ timeout: 10_000 });
  await expect(row(page, "read-table", "risk_segment").locator(".bar")).toHaveCount(0);
});

test("a deep link opens the read it names and runs it, and the address follows every change", async ({ page }) => {
  await page.goto("/?user=u0007&features=risk_segment,tx_count_5m");
  await expect(page.locator("body[data-hydrated='true']")).toBeAttached({ timeout: 30_000 });
  await expect(page.getByTestId("read-command")).toHaveText("HMGET e2e:user:u0007 risk_segment tx_count_5m");
  // The read ran without a click: its result is on screen, for the linked fields only.
  await expect(page.getByTestId("read-summary")).toContainText(/^u0007: \d of 2 fields/);
  await expect(page.getByTestId("read-table").locator("tr[data-field]")).toHaveCount(2);
  await page.locator("#read-tx_count_7d").check();
  await expect
    .poll(() => new URL(page.url()).searchParams.get("features"))
    .toBe("risk_segment,tx_count_7d,tx_count_5m");
  expect(new URL(page.url()).searchParams.get("user")).toBe("u0007");
});

test("the pickers start on a user the worker has just streamed, and can list only those", async ({ page }) => {
  await openApp(page);
  await expect
    .poll(async () => (await (await page.request.get("/api/state")).json()).worker.recent.length)
    .toBeGreaterThan(0);
  await page.locator("#read-user-streamed").check();
  const suggested = page.locator("#read-user-ids option");
  await expect.poll(() => suggested.count()).toBeGreaterThan(0);
  expect(await suggested.count()).toBeLessThanOrEqual(20);
  await page.locator("#read-user").fill(await suggested.first().getAttribute("value") ?? "");
  await page.getByRole("button", { name: "Read", exact: true }).click();
  await expect(row(page, "read-table", "tx_count_5m").locator("td.value")).not.toHaveText("missing or expired");
});

test("a read with no feature ticked cannot be sent, says why, and shows no command redis-cli would refuse", async ({
  page,
}) => {
  await openApp(page);
  const read = page.getByRole("button", { name: "Read", exact: true });
  await expect(read).toBeEnabled();
  const ticked = page.locator("#read fieldset:not(.panel-body) input[type=checkbox]:checked");
  while ((await ticked.count()) > 0) {
    await ticked.first().uncheck();
  }
  await expect(read).toBeDisabled();
  await expect(page.getByTestId("read-hint")).toHaveText("Tick at least one feature to read.");
  await expect(page.getByTestId("read-command")).not.toContainText("HMGET fs:");
  await page.locator("#read-risk_segment").check();
  await expect(read).toBeEnabled();
  await expect(page.getByTestId("read-hint")).toHaveCount(0);
  await expect(page.getByTestId("read-command")).toContainText("risk_segment");
});

test("the freshness panel measures a bulk load against the TTL that load used", async ({ page }) => {
  await openApp(page);
  await page.getByLabel("Users", { exact: true }).first().fill("50");
  await page.getByLabel("Key TTL (s)").fill("3600");
  await page.getByRole("button", { name: "Bulk-load" }).click();
  await expect(page.getByTestId("bulk-result")).toContainText("Loaded 50 users, 50 merchants with a 3600 s key TTL");
  await expect(page.getByTestId("load-age")).toContainText("of a 3600 s TTL");
});

test("a user field the user cleared is never refilled by the poll", async ({ page }) => {
  await openApp(page);
  const field = page.locator("#read-user");
  await expect(field).not.toHaveValue("");
  const twoPolls = async () => {
    for (let poll = 0; poll < 2; poll++) {
      await page.waitForResponse((response) => response.url().includes("/api/state"));
    }
  };
  await field.fill("");
  await twoPolls();
  await expect(field).toHaveValue("");
  await field.pressSequentially("u0042");
  await twoPolls();
  await expect(field).toHaveValue("u0042");
});

test("on a 390 px phone a read's rows stack: no number broken, no cell squeezed, nothing past the screen", async ({
  page,
}) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await openApp(page);
  await page.getByRole("button", { name: "Read", exact: true }).click();
  const table = page.getByTestId("read-table");
  await expect(table).toBeVisible();
  const seen = await table.evaluate((element) => {
    const lines = (node: Element) => {
      const range = document.createRange();
      range.selectNodeContents(node);
      return new Set([...range.getClientRects()].map((rect) => Math.round(rect.top))).size;
    };
    return {
      right: element.getBoundingClientRect().right,
      values: [...element.querySelectorAll("td.value")].map((cell) => ({
        text: cell.textContent ?? "",
        lines: lines(cell),
        width: cell.getBoundingClientRect().width,
      })),
    };
  });
  expect(seen.right).toBeLessThanOrEqual(390);
  expect(seen.values.length).toBeGreaterThan(0);
  for (const value of seen.values) {
    expect(value.width, value.text).toBeGreaterThan(150);
    // A number, an id or a country code stays whole on one line.
    if (!value.text.includes(" ")) expect(value.lines, value.text).toBe(1);
  }
});

test("the server-rendered page, before hydration, shows the values and ticks hydration will show", async ({
  page,
}) => {
  const form = (target: typeof page) =>
    target.evaluate(() => ({
      inputs: [...document.querySelectorAll<HTMLInputElement>("main input:not([type=checkbox])")].map(
        (input) => [input.id, input.value],
      ),
      ticked: [...document.querySelectorAll<HTMLInputElement>("main input[type=checkbox]")].map(
        (box) => [box.id, box.checked],
      ),
    }));
  // The WASM is held back until the form is read, so what is read is the server's page.
  const release = await holdWasm(page);
  await page.goto("/");
  await expect(page.getByTestId("starting")).toBeVisible();
  await expect(page.locator("#read-user")).toBeAttached();
  const served = await form(page);
  release();
  await expect(page.locator("body[data-hydrated='true']")).toBeAttached({ timeout: 30_000 });
  const hydrated = await form(page);
  expect(served.inputs.length).toBeGreaterThan(3);
  expect(served.ticked.filter(([, on]) => on).length).toBeGreaterThan(0);
  // Every field holds a value before the script runs: no empty form that then jumps.
  for (const [id, value] of served.inputs) expect(value, String(id)).not.toBe("");
  expect(served).toEqual(hydrated);
});

test("Read and Inspect word a user that does not exist the same way", async ({ page }) => {
  await openApp(page);
  await page.locator("#read-user").fill("nobody");
  await page.getByRole("button", { name: "Read", exact: true }).click();
  await expect(page.getByTestId("read-summary")).toContainText("the user does not exist (expired or never loaded)");
  await page.locator("#inspect-user").fill("nobody");
  await page.getByRole("button", { name: "Inspect", exact: true }).click();
  await expect(page.getByTestId("inspect-summary")).toContainText("nobody does not exist (expired or never loaded)");
});

test("Inspect shows the store's event and write times as times, named as such", async ({ page }) => {
  await openApp(page);
  await page.getByRole("button", { name: "Inspect", exact: true }).click();
  const stamp = page.getByTestId("inspect-table").locator('tr[data-field^="_ts:"]').first();
  await expect(stamp.locator("td.value")).toHaveText(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
  await expect(stamp.locator("td.value")).toHaveAttribute("title", /^\d{13}$/);
  await expect(stamp.locator("td.kind")).toHaveText("event time");
  const written = page.getByTestId("inspect-table").locator('tr[data-field^="_wt:"]').first();
  await expect(written.locator("td.kind")).toHaveText("write time");
});

test("one load fetches the favicon once, and the grid leaves no empty cell at 1280 px", async ({ page }) => {
  let icons = 0;
  page.on("request", (request) => {
    if (request.url().endsWith("/favicon.svg")) icons++;
  });
  await openApp(page);
  // Two polls after hydration: anything hydration added has been fetched by then.
  for (let poll = 0; poll < 2; poll++) {
    await page.waitForResponse((response) => response.url().includes("/api/state"));
  }
  expect(icons).toBeLessThanOrEqual(1);
  // The address changes only once the read's form is edited (each change fetched the icon again).
  expect(new URL(page.url()).search).toBe("");
  const rows = await page.locator("main.grid > section").evaluateAll((panels) => {
    const byTop = new Map<number, number>();
    for (const panel of panels) {
      const box = panel.getBoundingClientRect();
      const top = Math.round(box.top);
      byTop.set(top, (byTop.get(top) ?? 0) + box.width);
    }
    return [...byTop.values()];
  });
  const widest = Math.max(...rows);
  // Every row of panels is as wide as the widest one: no cell stands empty beside a panel.
  for (const width of rows) expect(width).toBeGreaterThan(widest * 0.95);
});

test("the freshness chart's scale follows the ages, not a day-long TTL", async ({ page }) => {
  await openApp(page);
  await expect(page.getByTestId("age-caption")).toContainText(/top: \d+ s/);
  const top = Number((await page.getByTestId("age-caption").innerText()).match(/top: (\d+) s/)![1]);
  // The store was loaded with a 86400 s key TTL a moment ago: the scale is seconds, not a day.
  expect(top).toBeLessThan(3600);
  await expect(page.getByTestId("worker-line")).toHaveAttribute("points", /\d/);
});

test("picking another entity, Read, Batch scoring and Inspect serve its own hashes", async ({ page }) => {
  await openApp(page);
  await page.getByTestId("entity-picker").selectOption({ label: "merchant" });
  // The merchant's own views and prefix (the server's --key-prefix with ".merchant"), starting
  // on a merchant: one the worker has just streamed, or the first.
  await expect(page.locator("#read-user")).toHaveValue(/^m\d{4}$/);
  await expect(page.getByTestId("read-command")).toHaveText(
    /^HMGET e2e:user\.merchant:m\d{4} category merchant_risk chargeback_rate_90d avg_ticket_30d tx_count_1m$/,
  );
  await page.getByRole("button", { name: "Read", exact: true }).click();
  await expect(page.getByTestId("read-summary")).toContainText(/m\d{4}: [45] of 5 fields/);
  await expect(row(page, "read-table", "category").locator("td.ttl")).toHaveText("no field TTL");
  await page.getByRole("button", { name: "Pipeline HMGET" }).click();
  await expect(page.getByTestId("batch-sample").locator("tbody tr").first()).toContainText("m0001");
  await expect(page.getByTestId("inspect-command")).toHaveText(/^HGETALL e2e:user\.merchant:m\d{4}$/);
  await page.getByRole("button", { name: "Inspect", exact: true }).click();
  await expect(page.getByTestId("inspect-summary")).toContainText(/m\d{4} · key TTL/);
  // Back to users: their views again, and no merchant's result left under them.
  await page.getByTestId("entity-picker").selectOption({ label: "user" });
  await expect(page.getByTestId("read-command")).toHaveText(/^HMGET e2e:user:u\d{4} risk_segment /);
  await expect(page.getByTestId("read-summary")).toHaveCount(0);
  await expect(page.getByTestId("inspect-summary")).toHaveCount(0);
  await expect(page.getByTestId("batch-sample")).toHaveCount(0);
});

test("the worker panel names the server that streams, and says it is this one", async ({ page }) => {
  await openApp(page);
  const holder = page.getByTestId("worker-holder");
  // One server on its prefix: it holds the deployment's lease, under a token, since its start.
  await expect(holder).toContainText(/^127\.0\.0\.1:\d+#\d+-[0-9a-f]{4} \(this server, lease token \d+, since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)$/);
  await expect(page.getByTestId("worker-fenced")).toHaveText("0");
});
