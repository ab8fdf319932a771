import { expect, Page } from "@playwright/test";

/** Loads the app and waits until the WASM client has hydrated the page. */
export async function openApp(page: Page) {
  await page.goto("/");
  await expect(page.locator("body[data-hydrated='true']")).toBeAttached({ timeout: 30_000 });
}
