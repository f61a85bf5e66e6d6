// Browser helpers for the e2e scenarios: Debian's Chromium driven by playwright-core
// (no browser download), a fresh profile per run, and small assertion helpers.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";

const frontendDir = process.env.FRONTEND_DIR;
if (!frontendDir) throw new Error("FRONTEND_DIR is not set (apps/frontend, where playwright-core is installed)");
const { chromium } = createRequire(path.join(frontendDir, "package.json"))("playwright-core");

export const BASE_URL = must("BASE_URL");
export const ARTIFACT_DIR = must("ARTIFACT_DIR");
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const TIMEOUT = 15_000;

function must(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/** Starts Chromium with a throwaway profile; returns {context, page, close}. */
export async function launch({ viewport = { width: 1280, height: 900 } } = {}) {
  const profile = mkdtempSync(path.join(tmpdir(), "todo-e2e-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  context.setDefaultTimeout(TIMEOUT);
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleErrors = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") consoleErrors.push(msg.text());
  });
  page.on("pageerror", (err) => consoleErrors.push(String(err)));
  return {
    context,
    page,
    consoleErrors,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function uniqueEmail(tag) {
  return `${tag}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}@example.com`;
}

export function password() {
  // Generated per run: no credentials live in the repo.
  return `pw-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}`;
}

export function isoDate(daysFromToday) {
  const d = new Date();
  d.setDate(d.getDate() + daysFromToday);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

export async function signUp(page, { email, pass, name }) {
  await page.goto(`${BASE_URL}/signup`);
  if (name) await page.getByLabel("Name").fill(name);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(pass);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL(`${BASE_URL}/`);
  await page.getByRole("heading", { name: "Your tasks" }).waitFor();
}

export async function signIn(page, { email, pass }) {
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(pass);
  await page.getByRole("button", { name: "Sign in" }).click();
}

export async function signOut(page) {
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(`${BASE_URL}/signin`);
}

export const addForm = (page) => page.getByRole("form", { name: "Add a task" });
export const taskList = (page) => page.getByRole("list", { name: "Tasks" });
export const filterBar = (page) => page.getByRole("search", { name: "Filter tasks" });

/** Adds a task through the form and waits until the backend has it and the list shows it. */
export async function addTask(page, { title, description, priority, due }) {
  const form = addForm(page);
  await form.getByLabel("Title").fill(title);
  if (description) await form.getByLabel("Description").fill(description);
  if (priority) await form.getByLabel("Priority").selectOption(priority);
  if (due) await form.getByLabel("Due date").fill(due);
  const created = page.waitForResponse((r) => r.url().endsWith("/api/v1/tasks") && r.request().method() === "POST");
  await form.getByRole("button", { name: "Add task" }).click();
  assert.equal((await created).status(), 201, `creating "${title}"`);
  await taskList(page).getByText(title, { exact: true }).waitFor();
}

/** Titles shown in the list, in order (empty when the list is absent). */
export async function titles(page) {
  const list = taskList(page);
  if (!(await list.count())) return [];
  return list.locator(".task__title").allTextContents();
}

/** Waits (bounded) until fn() deep-equals expected; fails with the last value seen. */
export async function eventually(fn, expected, what, timeoutMs = TIMEOUT) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    try {
      assert.deepEqual(last, expected);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.deepEqual(last, expected, `${what}: still ${JSON.stringify(last)} after ${timeoutMs} ms`);
}

export async function counts(page) {
  return {
    open: Number(await page.getByTestId("count-open").textContent()),
    done: Number(await page.getByTestId("count-done").textContent()),
  };
}

/** Waits until the page has what the browser fetches after the server's render: the
 * signed-in person's name and the open/done counts. */
export async function settled(page) {
  await eventually(() => page.locator(".topbar__user").textContent().then((t) => t.trim() !== ""), true, "user shown");
  await eventually(() => counts(page).then((c) => Number.isInteger(c.open) && Number.isInteger(c.done)), true, "counts shown");
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACT_DIR, { recursive: true });
  const file = path.join(ARTIFACT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot: ${file}`);
  return file;
}

/** Runs one scenario: prints a step log, exits non-zero with the failure (and a screenshot). */
export async function run(name, scenario) {
  const browser = await launch();
  const started = Date.now();
  try {
    await scenario(browser);
    const errors = browser.consoleErrors.filter((e) => !/Failed to load resource/.test(e));
    assert.deepEqual(errors, [], "the page logged errors to the console");
    console.log(`scenario ${name}: ok in ${Date.now() - started} ms`);
  } catch (error) {
    try {
      await screenshot(browser.page, `failure-${name}`);
    } catch {
      // the page may be gone; the error below is what matters
    }
    console.error(`scenario ${name}: FAILED at ${browser.page.url()}`);
    console.error(error?.stack ?? String(error));
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

export { assert };
