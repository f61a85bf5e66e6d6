// Browser scenarios against the real stack (backend + PostgreSQL + built frontend behind
// the Ingress-like proxy). Usage: node scenarios.mjs <scenario>; the pytest tests in
// tests/e2e start the stack and run each scenario, which exits non-zero on failure.

import {
  BASE_URL,
  addForm,
  addTask,
  assert,
  counts,
  eventually,
  filterBar,
  isoDate,
  password,
  run,
  screenshot,
  settled,
  signIn,
  signOut,
  signUp,
  taskList,
  titles,
  uniqueEmail,
} from "./harness.mjs";

const step = (text) => console.log(`- ${text}`);

const scenarios = {
  /** Sign up, add three tasks, complete, filter, search, edit, delete (+undo), reload, sign out. */
  async "task-flow"({ page }) {
    step("a signed-out visitor is sent to sign in");
    await page.goto(`${BASE_URL}/`);
    assert.equal(new URL(page.url()).pathname, "/signin");
    await page.getByRole("heading", { name: "Sign in" }).waitFor();

    step("sign up");
    await page.getByRole("link", { name: "Create an account" }).click();
    await page.waitForURL(`${BASE_URL}/signup`);
    const account = { email: uniqueEmail("flow"), pass: password(), name: "Ada Lovelace" };
    await signUp(page, account);
    await page.getByText("Ada Lovelace").waitFor();
    await page.getByText("No tasks yet").waitFor();

    step("add a task with the keyboard only");
    const form = addForm(page);
    await form.getByLabel("Title").focus();
    await page.keyboard.type("Buy oat milk");
    await page.keyboard.press("Tab");
    await page.keyboard.type("Two litres");
    await page.keyboard.press("Tab"); // priority select
    await page.keyboard.press("Tab"); // due date
    await page.keyboard.press("Tab"); // Add task button
    await page.keyboard.press("Enter");
    await taskList(page).getByText("Buy oat milk", { exact: true }).waitFor();
    assert.equal(await form.getByLabel("Title").inputValue(), "", "the form clears after adding");

    step("add two more tasks with priority and due date");
    await addTask(page, { title: "File tax return", priority: "high", due: isoDate(7), description: "Forms in the drawer" });
    await addTask(page, { title: "Call the plumber", priority: "low", due: isoDate(-1) });
    await eventually(() => titles(page), ["Call the plumber", "File tax return", "Buy oat milk"], "three tasks, newest first");
    assert.deepEqual(await counts(page), { open: 3, done: 0 });
    await taskList(page).getByText(/overdue/).waitFor(); // yesterday's due date is flagged

    step("complete one");
    const patched = page.waitForResponse((r) => /\/api\/v1\/tasks\/\d+$/.test(r.url()) && r.request().method() === "PATCH");
    await page.getByRole("checkbox", { name: 'Mark "File tax return" as done' }).check();
    assert.equal((await patched).status(), 200);
    await eventually(() => counts(page), { open: 2, done: 1 }, "counts after completing");

    step("filter by status");
    const filters = filterBar(page);
    await filters.getByRole("radio", { name: /^Done/ }).check();
    await eventually(() => titles(page), ["File tax return"], "Done filter");
    assert.match(page.url(), /\?status=completed$/);
    await filters.getByRole("radio", { name: /^Open/ }).check();
    await eventually(() => titles(page), ["Call the plumber", "Buy oat milk"], "Open filter");
    await filters.getByRole("radio", { name: /^All/ }).check();

    step("filter by priority");
    await filters.getByLabel("Priority").selectOption("high");
    await eventually(() => titles(page), ["File tax return"], "High priority filter");
    await filters.getByLabel("Priority").selectOption("");
    await eventually(() => titles(page), ["Call the plumber", "File tax return", "Buy oat milk"], "any priority");

    step("search");
    await filters.getByLabel("Search").fill("plumb");
    await eventually(() => titles(page), ["Call the plumber"], "search 'plumb'");
    await filters.getByLabel("Search").fill("drawer"); // matches the description
    await eventually(() => titles(page), ["File tax return"], "search in descriptions");
    await filters.getByLabel("Search").fill("");
    await eventually(() => titles(page), ["Call the plumber", "File tax return", "Buy oat milk"], "search cleared");

    step("edit a task");
    await page.getByRole("button", { name: 'Edit "Call the plumber"' }).click();
    const edit = page.getByRole("form", { name: "Edit task Call the plumber" });
    await edit.getByLabel("Title").fill("Call the plumber about the leak");
    await edit.getByLabel("Priority").selectOption("high");
    await screenshot(page, "task-editing");
    await edit.getByRole("button", { name: "Save" }).click();
    await eventually(() => titles(page), ["Call the plumber about the leak", "File tax return", "Buy oat milk"], "after edit");

    step("delete with undo, then delete for good");
    await page.getByRole("button", { name: 'Delete "Buy oat milk"' }).click();
    await eventually(() => titles(page), ["Call the plumber about the leak", "File tax return"], "after delete");
    await screenshot(page, "task-deleted-undo");
    await page.getByRole("button", { name: "Undo" }).click();
    await eventually(() => titles(page).then((t) => t.includes("Buy oat milk")), true, "undo restores the task");
    const deleted = page.waitForResponse((r) => r.request().method() === "DELETE");
    await page.getByRole("button", { name: 'Delete "Buy oat milk"' }).click();
    assert.equal((await deleted).status(), 204);
    await eventually(() => titles(page), ["Call the plumber about the leak", "File tax return"], "after second delete");
    assert.deepEqual(await counts(page), { open: 1, done: 1 });

    step("reload: the same state comes back from the server");
    await page.reload();
    await page.getByRole("heading", { name: "Your tasks" }).waitFor();
    assert.deepEqual(await titles(page), ["Call the plumber about the leak", "File tax return"]);
    assert.deepEqual(await counts(page), { open: 1, done: 1 });
    assert.equal(await page.getByRole("checkbox", { name: 'Mark "File tax return" as not done' }).isChecked(), true);

    step("a filtered URL renders filtered on the server");
    await page.goto(`${BASE_URL}/?status=completed`);
    assert.deepEqual(await titles(page), ["File tax return"]);
    assert.equal(await filterBar(page).getByRole("radio", { name: /^Done/ }).isChecked(), true);
    await page.goto(`${BASE_URL}/`);

    step("screenshots at desktop and phone width");
    await settled(page);
    await screenshot(page, "task-page-desktop");
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, "task-page-phone");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no sideways scrolling at phone width (overflow ${overflow}px)`);
    await page.setViewportSize({ width: 1280, height: 900 });

    step("sign out; the task page is closed again");
    await signOut(page);
    await page.goto(`${BASE_URL}/`);
    assert.equal(new URL(page.url()).pathname, "/signin");

    step("sign back in: everything is still there");
    await signIn(page, account);
    await page.waitForURL(`${BASE_URL}/`);
    assert.deepEqual(await titles(page), ["Call the plumber about the leak", "File tax return"]);
  },

  /** A second user sees none of the first user's tasks, in the page or through the API. */
  async isolation({ page }) {
    const first = { email: uniqueEmail("first"), pass: password() };
    await signUp(page, first);
    await addTask(page, { title: "First user's secret plan", priority: "high" });
    const id = await taskList(page).locator("li").first().getAttribute("data-task-id");
    assert.ok(id, "task id rendered");
    await signOut(page);

    const second = { email: uniqueEmail("second"), pass: password() };
    await signUp(page, second);
    await page.getByText("No tasks yet").waitFor();
    assert.deepEqual(await titles(page), []);
    assert.deepEqual(await counts(page), { open: 0, done: 0 });
    await page.goto(`${BASE_URL}/?q=secret`);
    assert.deepEqual(await titles(page), []);

    // Same origin, second user's cookie: the first user's task does not exist for them.
    for (const [method, body] of [["GET"], ["PATCH", { completed: true }], ["DELETE"]]) {
      const res = await page.request.fetch(`${BASE_URL}/api/v1/tasks/${id}`, { method, data: body });
      assert.equal(res.status(), 404, `${method} of another user's task`);
    }
    const list = await (await page.request.get(`${BASE_URL}/api/v1/tasks?q=secret`)).json();
    assert.deepEqual(list, { items: [], total: 0 });
    await signOut(page);

    // And the first user's task is untouched.
    await page.goto(`${BASE_URL}/signin`);
    await signIn(page, first);
    await page.waitForURL(`${BASE_URL}/`);
    assert.deepEqual(await titles(page), ["First user's secret plan"]);
  },

  /** The assistant panel against the real backend, which talks to the fake OpenAI server. */
  async "assistant-fake-openai"({ page }) {
    await signUp(page, { email: uniqueEmail("assistant"), pass: password() });
    const panel = page.getByRole("region", { name: "Assistant" });
    const box = panel.getByLabel("Message to the assistant");

    step("ask it to add a task");
    await box.fill("add Water the plants");
    await box.press("Enter");
    await panel.getByText("Done: Water the plants.").waitFor();
    const changed = panel.getByRole("list", { name: "Tasks changed" });
    assert.match(await changed.textContent(), /Added “Water the plants”/);
    await eventually(() => titles(page), ["Water the plants"], "the list refreshes with the new task");
    assert.deepEqual(await counts(page), { open: 1, done: 0 });

    step("a follow-up in the same conversation");
    await box.fill("what is on my list?");
    await panel.getByRole("button", { name: "Send" }).click();
    await panel.getByText("Your tasks: Water the plants").waitFor();
    await screenshot(page, "assistant-desktop");
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, "assistant-phone");
    await page.setViewportSize({ width: 1280, height: 900 });

    step("the change is stored: it survives a reload");
    await page.reload();
    assert.deepEqual(await titles(page), ["Water the plants"]);
  },

  /** Without an OpenAI key the backend answers 503; the panel says so and the rest works. */
  async "assistant-not-configured"({ page }) {
    await signUp(page, { email: uniqueEmail("noai"), pass: password() });
    const panel = page.getByRole("region", { name: "Assistant" });
    await panel.getByLabel("Message to the assistant").fill("add something");
    await panel.getByRole("button", { name: "Send" }).click();
    await panel.getByText("The assistant is not configured on this server (no OpenAI API key is set).", { exact: false }).waitFor();
    assert.equal(await panel.getByText(/not configured/).count(), 1, "said once, plainly");
    await screenshot(page, "assistant-not-configured");
    await addTask(page, { title: "Still works without the assistant" });
    assert.deepEqual(await titles(page), ["Still works without the assistant"]);
  },

  /** Validation next to the field, taken emails, wrong passwords, an expired session. */
  async errors({ page }) {
    step("the backend's 422 lands next to the email field");
    await page.goto(`${BASE_URL}/signup`);
    await page.getByLabel("Email").fill("two@at@example.com");
    await page.getByLabel("Password").fill(password());
    await page.getByRole("button", { name: "Create account" }).click();
    const email = page.getByLabel("Email");
    await eventually(() => email.getAttribute("aria-invalid"), "true", "email marked invalid");
    const describedBy = await email.getAttribute("aria-describedby");
    assert.match(await page.locator(`[id="${describedBy}"]`).textContent(), /Email is not a valid email address/);
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, "signup-validation-phone");
    await page.setViewportSize({ width: 1280, height: 900 });

    step("a taken email is named as such");
    const account = { email: uniqueEmail("errors"), pass: password() };
    await signUp(page, account);
    await signOut(page);
    await page.goto(`${BASE_URL}/signup`);
    await page.getByLabel("Email").fill(account.email);
    await page.getByLabel("Password").fill(password());
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByText("An account with this email already exists.").waitFor();

    step("a wrong password says so");
    await page.goto(`${BASE_URL}/signin`);
    await signIn(page, { email: account.email, pass: "not-the-password" });
    await page.getByRole("alert").getByText("Email or password is incorrect.").waitFor();

    step("an empty title is caught next to the field");
    await signIn(page, account);
    await page.waitForURL(`${BASE_URL}/`);
    await addForm(page).getByRole("button", { name: "Add task" }).click();
    await addForm(page).getByText("Give the task a title.").waitFor();
    assert.equal(await addForm(page).getByLabel("Title").getAttribute("aria-invalid"), "true");

    step("a session that ends mid-use sends the person to sign in, then back");
    await page.goto(`${BASE_URL}/?status=pending`);
    await settled(page); // the browser's own follow-up requests are done: the next one is the add
    await page.context().clearCookies();
    await addForm(page).getByLabel("Title").fill("Written after the session ended");
    await addForm(page).getByRole("button", { name: "Add task" }).click();
    await page.waitForURL(/\/signin\?reason=expired/);
    await page.getByText("Your session has expired. Please sign in again.").waitFor();
    await screenshot(page, "signin-session-expired");
    await signIn(page, account);
    await page.waitForURL(`${BASE_URL}/?status=pending`);
    // Its follow-up requests (name, counts) must be done before the cookie goes, or their
    // 401 sends the browser to sign in while the next navigation starts.
    await settled(page);

    step("a session cookie the backend no longer accepts: the server render says so too");
    await page.context().clearCookies();
    await page.context().addCookies([{ name: "todo_session", value: "expired-or-forged", url: BASE_URL }]);
    await page.goto(`${BASE_URL}/?priority=high`);
    assert.equal(new URL(page.url()).pathname, "/signin");
    assert.equal(new URL(page.url()).searchParams.get("reason"), "expired");
    assert.equal(new URL(page.url()).searchParams.get("next"), "/?priority=high");
    await page.getByText("Your session has expired. Please sign in again.").waitFor();
  },

  /** next=/%09/evil.example (a TAB browsers strip, leaving //evil.example) keeps the person
   * on this origin, after a real sign-in (client navigation) and when already signed in
   * (the server's redirect). */
  async "open-redirect"({ page }) {
    const origin = new URL(BASE_URL).origin;
    const leaving = [];
    page.on("request", (r) => {
      if (new URL(r.url()).origin !== origin) leaving.push(r.url());
    });
    const account = { email: uniqueEmail("redirect"), pass: password() };
    await signUp(page, account);
    await signOut(page);

    step("sign in with a next that would leave the origin");
    await page.goto(`${BASE_URL}/signin?next=/%09/evil.example`);
    await signIn(page, account);
    await page.waitForURL(`${BASE_URL}/`);
    await page.getByRole("heading", { name: "Your tasks" }).waitFor();

    step("already signed in: the server's redirect stays here too");
    // Written as they appear in the query string: the page sees "/\t/evil.example", "/\evil.example", ...
    for (const next of ["/%09/evil.example", "/%5Cevil.example", "//evil.example", "https://evil.example/"]) {
      const response = await page.goto(`${BASE_URL}/signin?next=${next}`);
      assert.equal(new URL(page.url()).origin, origin, `next=${next}`);
      assert.equal(new URL(page.url()).pathname, "/", `next=${next}`);
      assert.equal(response.status(), 200);
    }
    assert.deepEqual(leaving, [], "no request left the app's origin");
  },

  /** The API behind the proxy is down: the page says so and offers a retry. */
  async "backend-unreachable"({ page }) {
    const account = { email: uniqueEmail("down"), pass: password() };
    await signUp(page, account);
    await addTask(page, { title: "Made while the API was up" });

    // Same cookie (cookies ignore ports), but this origin's /api goes nowhere: the
    // server-rendered page still loads (its server reaches the backend directly), and
    // the browser's calls fail like an Ingress with no backend pods.
    const downUrl = process.env.API_DOWN_URL;
    await page.goto(`${downUrl}/`);
    // click, not check(): the box is meant to flip back when the request fails.
    await page.getByRole("checkbox", { name: 'Mark "Made while the API was up" as done' }).click();
    await page.getByRole("alert").getByText("The server isn't responding right now. Try again in a moment.").waitFor();
    await page.getByRole("alert").getByRole("button", { name: "Try again" }).waitFor();
    // The change did not happen, so the page does not pretend it did.
    assert.equal(await page.getByRole("checkbox", { name: 'Mark "Made while the API was up" as done' }).isChecked(), false);
    await screenshot(page, "api-unreachable-banner");

    // The frontend's own server cannot reach the backend: an explanation, not a crash.
    const deadUrl = process.env.ALL_DOWN_URL;
    const response = await page.goto(`${deadUrl}/`);
    assert.equal(response.status(), 200);
    await page.getByRole("heading", { name: "Can’t load your tasks" }).waitFor();
    await page.getByRole("link", { name: "Try again" }).waitFor();
    await screenshot(page, "backend-unreachable");
  },
};

const name = process.argv[2];
if (!scenarios[name]) {
  console.error(`unknown scenario ${name}; known: ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
await run(name, scenarios[name]);
