import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it } from "vitest";
import { TaskApp } from "./TaskApp";
import { createApi } from "@/lib/api";
import { loadFirstPage, loadTaskData } from "@/lib/task-data";
import type { TaskFilters } from "@/lib/types";
import { fakeBackend, type FakeBackend } from "@/test/fake-backend";

const ALL: TaskFilters = { status: "all", priority: "", q: "" };
const user = { id: 1, email: "ada@example.com", name: "Ada" };

async function renderApp(backend: FakeBackend, filters: TaskFilters = ALL) {
  const api = createApi({ fetch: backend.fetch });
  const initialData = await loadTaskData(api, filters);
  backend.calls.length = 0;
  render(<TaskApp user={user} initialFilters={filters} initialData={initialData} today="2026-03-06" api={api} />);
  return api;
}

const list = () => screen.getByRole("list", { name: "Tasks" });
const titles = () =>
  within(list())
    .getAllByRole("listitem")
    .map((li) => li.querySelector(".task__title")?.textContent);
const count = (which: "open" | "done") => screen.getByTestId(`count-${which}`).textContent;

beforeEach(() => {
  window.history.replaceState(null, "", "/");
});

describe("TaskApp", () => {
  it("renders the server's tasks, counts and the signed-in user", async () => {
    await renderApp(fakeBackend([{ title: "Old", completed: true }, { title: "New", priority: "high", due_date: "2026-03-01" }]));
    expect(titles()).toEqual(["New", "Old"]);
    expect(count("open")).toBe("1");
    expect(count("done")).toBe("1");
    expect(screen.getByText("Ada")).toBeTruthy();
    expect(screen.getByText(/Due 1 Mar 2026/).textContent).toMatch(/overdue/);
  });

  it("fetches what the server's one request left out: the person and, when filtered, the counts", async () => {
    const backend = fakeBackend([{ title: "Milk" }, { title: "Taxes", completed: true }, { title: "Bread" }]);
    backend.user = { id: 1, email: "grace@example.com", name: "Grace" };
    const api = createApi({ fetch: backend.fetch });
    const filters: TaskFilters = { status: "pending", priority: "", q: "bread" };
    const first = await loadFirstPage(api, filters);
    backend.calls.length = 0;
    render(<TaskApp initialFilters={filters} initialData={first} today="2026-03-06" api={api} />);
    expect(titles()).toEqual(["Bread"]);
    expect(count("open")).toBe("–");
    expect(await screen.findByText("Grace")).toBeTruthy();
    await waitFor(() => expect(count("open")).toBe("2"));
    expect(count("done")).toBe("1");
    expect(backend.calls.map((c) => c.url).sort()).toEqual([
      "/api/v1/auth/me",
      "/api/v1/tasks?status=completed&limit=1",
      "/api/v1/tasks?status=pending&limit=1",
    ]);
  });

  it("says 'nothing matches' on an empty filtered view before the counts arrive", async () => {
    const backend = fakeBackend([{ title: "Milk" }]);
    const api = createApi({ fetch: backend.fetch });
    const filters: TaskFilters = { status: "all", priority: "", q: "bread" };
    render(<TaskApp initialFilters={filters} initialData={await loadFirstPage(api, filters)} today="2026-03-06" api={api} />);
    expect(screen.getByText("No tasks match these filters.")).toBeTruthy();
    await waitFor(() => expect(count("open")).toBe("1"));
    expect(screen.getByText("No tasks match these filters.")).toBeTruthy();
  });

  it("adds a task with all its fields and shows it at once", async () => {
    const backend = fakeBackend();
    await renderApp(backend);
    const form = screen.getByRole("form", { name: "Add a task" });
    const u = userEvent.setup();
    await u.type(within(form).getByLabelText("Title"), "Write report");
    await u.type(within(form).getByLabelText(/Description/), "quarterly");
    await u.selectOptions(within(form).getByLabelText("Priority"), "high");
    await u.type(within(form).getByLabelText(/Due date/), "2026-03-10");
    await u.click(within(form).getByRole("button", { name: "Add task" }));
    await waitFor(() => expect(titles()).toEqual(["Write report"]));
    expect(backend.tasks[0]).toMatchObject({ title: "Write report", description: "quarterly", priority: "high", due_date: "2026-03-10" });
    expect(count("open")).toBe("1");
    expect((within(form).getByLabelText("Title") as HTMLInputElement).value).toBe("");
  });

  it("shows validation messages next to the field", async () => {
    const backend = fakeBackend();
    await renderApp(backend);
    const form = screen.getByRole("form", { name: "Add a task" });
    const u = userEvent.setup();
    await u.click(within(form).getByRole("button", { name: "Add task" }));
    const title = within(form).getByLabelText("Title");
    expect(title.getAttribute("aria-invalid")).toBe("true");
    expect(document.getElementById(title.getAttribute("aria-describedby")!)?.textContent).toBe("Give the task a title.");
    expect(backend.calls).toHaveLength(0); // caught before asking the server

    // The server's 422 lands on the field it names.
    backend.failNext("/api/v1/tasks", {
      status: 422,
      body: { detail: [{ loc: ["body", "title"], msg: "String should have at most 200 characters" }] },
    });
    await u.type(title, "x");
    await u.click(within(form).getByRole("button", { name: "Add task" }));
    await waitFor(() =>
      expect(document.getElementById(title.getAttribute("aria-describedby")!)?.textContent).toBe(
        "String should have at most 200 characters",
      ),
    );
  });

  it("toggles, edits and deletes with undo", async () => {
    const backend = fakeBackend([{ title: "Milk", description: "2 litres", priority: "low", due_date: "2026-04-01" }]);
    await renderApp(backend);
    const u = userEvent.setup();

    await u.click(screen.getByRole("checkbox", { name: 'Mark "Milk" as done' }));
    expect(count("done")).toBe("1"); // at once, before the server answers
    await waitFor(() => expect(backend.tasks[0].completed).toBe(true));

    await u.click(screen.getByRole("button", { name: 'Edit "Milk"' }));
    const edit = screen.getByRole("form", { name: "Edit task Milk" });
    const title = within(edit).getByLabelText("Title");
    await u.clear(title);
    await u.type(title, "Oat milk{Enter}");
    await waitFor(() => expect(titles()).toEqual(["Oat milk"]));
    expect(document.activeElement).toBe(screen.getByRole("button", { name: 'Edit "Oat milk"' }));
    expect(backend.tasks[0]).toMatchObject({ title: "Oat milk", description: "2 litres", completed: true });

    await u.click(screen.getByRole("button", { name: 'Delete "Oat milk"' }));
    await waitFor(() => expect(backend.tasks).toHaveLength(0));
    expect(screen.queryByRole("list", { name: "Tasks" })).toBeNull();
    await u.click(screen.getByRole("button", { name: "Undo" }));
    await waitFor(() => expect(titles()).toEqual(["Oat milk"]));
    expect(backend.tasks[0]).toMatchObject({ title: "Oat milk", description: "2 litres", priority: "low", due_date: "2026-04-01", completed: true });
  });

  it("filters by status and priority, searches, and keeps filters in the URL", async () => {
    const backend = fakeBackend([
      { title: "Milk", priority: "low" },
      { title: "Taxes", priority: "high", completed: true },
      { title: "Bread", priority: "high" },
    ]);
    await renderApp(backend);
    const u = userEvent.setup();

    await u.click(screen.getByRole("radio", { name: /Done/ }));
    await waitFor(() => expect(titles()).toEqual(["Taxes"]));
    expect(window.location.search).toBe("?status=completed");

    await u.click(screen.getByRole("radio", { name: /All/ }));
    await u.selectOptions(within(screen.getByRole("search")).getByRole("combobox", { name: "Priority" }), "high");
    await waitFor(() => expect(titles()).toEqual(["Bread", "Taxes"]));

    await u.type(screen.getByRole("searchbox", { name: "Search" }), "bre");
    await waitFor(() => expect(titles()).toEqual(["Bread"]));
    expect(window.location.search).toBe("?priority=high&q=bre");
    expect(count("open")).toBe("2"); // counts stay global

    await u.clear(screen.getByRole("searchbox", { name: "Search" }));
    await u.type(screen.getByRole("searchbox", { name: "Search" }), "nothing");
    await waitFor(() => expect(screen.getByText("No tasks match these filters.")).toBeTruthy());
    await u.click(screen.getByRole("button", { name: "Clear filters" }));
    await waitFor(() => expect(titles()).toHaveLength(3));
    expect(window.location.search).toBe("");
  });

  it("puts a task back when deleting it fails", async () => {
    const backend = fakeBackend([{ title: "A" }, { title: "B" }]);
    await renderApp(backend);
    backend.failNext("/api/v1/tasks/", { status: 502 });
    backend.failNext("/api/v1/tasks", { status: 502 });
    await userEvent.setup().click(screen.getByRole("button", { name: 'Delete "A"' }));
    expect((await screen.findByRole("alert")).textContent).toMatch(/isn't responding/);
    expect(titles()).toEqual(["B", "A"]);
    expect(count("open")).toBe("2");
    expect(screen.queryByRole("button", { name: "Undo" })).toBeNull();
  });

  it("completing a task in the Open view removes it from the view at once", async () => {
    const backend = fakeBackend([{ title: "A" }, { title: "B" }]);
    await renderApp(backend, { status: "pending", priority: "", q: "" });
    await userEvent.setup().click(screen.getByRole("checkbox", { name: 'Mark "A" as done' }));
    expect(titles()).toEqual(["B"]);
  });

  it("says plainly when the backend cannot be reached and recovers on retry", async () => {
    const backend = fakeBackend([{ title: "A" }]);
    await renderApp(backend);
    const u = userEvent.setup();
    backend.failNext("/api/v1/tasks/", "network");
    backend.failNext("/api/v1/tasks", "network");
    await u.click(screen.getByRole("checkbox", { name: 'Mark "A" as done' }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toMatch(/Can't reach the server/);
    // Nothing changed on the server, so nothing looks changed on the page.
    expect((screen.getByRole("checkbox", { name: 'Mark "A" as done' }) as HTMLInputElement).checked).toBe(false);
    expect(count("done")).toBe("0");
    await u.click(within(alert).getByRole("button", { name: "Try again" }));
    await waitFor(() => expect(screen.queryByRole("alert")).toBeNull());
    expect(screen.getByRole("checkbox", { name: 'Mark "A" as done' })).toBeTruthy(); // real state restored
  });
});
