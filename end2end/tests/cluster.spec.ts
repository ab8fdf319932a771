import { test, expect } from "@playwright/test";
import { BATCH_FIELDS, openApp, row } from "./helpers";

// A second server, on the private Redis Cluster that `make test` starts.
const clusterURL = process.env.CLUSTER_BASE_URL;
test.use({ baseURL: clusterURL });
// `make test` always sets it; `cargo leptos end-to-end` starts one server, on one Redis.
test.skip(!clusterURL, "no cluster server: CLUSTER_BASE_URL is unset");

test("on Redis Cluster the page says so, counts every master's entities, reads and batch-reads", async ({
  page,
}) => {
  await openApp(page);
  await expect(page.getByTestId("redis-mode")).toContainText("cluster (3 masters");
  await expect(page.getByTestId("entity-count")).toHaveText("200");
  // One count per master, adding up to the total.
  const perMaster = await page.getByTestId("state-mode").innerText();
  const counts = [...perMaster.matchAll(/:\d+ (\d+)/g)].map((m) => Number(m[1]));
  expect(counts).toHaveLength(3);
  expect(counts.reduce((a, b) => a + b, 0)).toBe(200);

  // The cluster's server runs without the worker: the three batch fields of the default read
  // are there, the two streaming ones are not.
  await page.getByRole("button", { name: "Read", exact: true }).click();
  await expect(page.getByTestId("read-summary")).toContainText("u0001: 3 of 5 fields");
  await expect(row(page, "read-table", BATCH_FIELDS[0]).locator("td.value")).not.toHaveText(
    "missing or expired",
  );

  await page.getByRole("button", { name: "Pipeline HMGET" }).click();
  await expect(page.getByTestId("batch-summary")).toContainText("100 users × 6 fields");
  // Batch scoring reads the risk segment and the five streaming fields: one of six found.
  const first = page.getByTestId("batch-sample").locator("tbody tr").first();
  await expect(first).toContainText("u0001");
  await expect(first).toContainText("1 / 6");
});
