import { describe, expect, it, vi } from "vitest";
import { createApi } from "./api";
import { ApiError } from "./errors";
import { loadFirstPage, loadTaskData } from "./task-data";
import { fakeBackend } from "@/test/fake-backend";

function recordingFetch(status: number, body?: unknown) {
  const fn = vi.fn(async (input: string, init?: RequestInit) => {
    void input;
    void init;
    return new Response(body === undefined ? null : JSON.stringify(body), { status });
  });
  return fn;
}

describe("createApi", () => {
  it("calls the server with the base URL, JSON body and forwarded headers", async () => {
    const fetch = recordingFetch(201, { id: 7 });
    const api = createApi({ baseUrl: "http://backend:8000", headers: { cookie: "todo_session=abc" }, fetch });
    await api.createTask({ title: "A", description: null, priority: "high", due_date: "2026-03-05" });
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe("http://backend:8000/api/v1/tasks");
    expect(init?.method).toBe("POST");
    expect(JSON.parse(String(init?.body))).toEqual({ title: "A", description: null, priority: "high", due_date: "2026-03-05" });
    expect(init?.headers).toMatchObject({ cookie: "todo_session=abc", "Content-Type": "application/json" });
    expect(init?.cache).toBe("no-store");
  });

  it("uses same-origin paths by default and encodes ids", async () => {
    const fetch = recordingFetch(204);
    await createApi({ fetch }).deleteTask(42);
    expect(fetch.mock.calls[0][0]).toBe("/api/v1/tasks/42");
  });

  it("reports an unreachable backend as a network error", async () => {
    const api = createApi({ fetch: async () => Promise.reject(new TypeError("fetch failed")) });
    await expect(api.me()).rejects.toMatchObject({ kind: "network" });
  });

  it("treats an HTML error page from a proxy as no body", async () => {
    const api = createApi({ fetch: async () => new Response("<html>Bad Gateway</html>", { status: 502 }) });
    await expect(api.listTasks()).rejects.toMatchObject({ kind: "unavailable", status: 502 });
  });

  it("announces a lost session once, except for a failed login", async () => {
    const onUnauthorized = vi.fn();
    const api = createApi({ fetch: recordingFetch(401, { detail: "Not authenticated" }), onUnauthorized });
    await expect(api.listTasks()).rejects.toBeInstanceOf(ApiError);
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
    await expect(api.login({ email: "a@b.co", password: "x" })).rejects.toMatchObject({
      message: "Email or password is incorrect.",
    });
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it("does not announce a lost session for a request the sign-out overtook", async () => {
    const onUnauthorized = vi.fn();
    let answer: (res: Response) => void = () => {};
    const fetch = async (input: string) =>
      input.endsWith("/auth/logout")
        ? new Response(null, { status: 204 })
        : new Promise<Response>((resolve) => (answer = resolve));
    const api = createApi({ fetch, onUnauthorized });
    const counts = api.listTasks(); // under way when the person signs out
    await api.logout();
    answer(new Response(JSON.stringify({ detail: "Not authenticated" }), { status: 401 }));
    await expect(counts).rejects.toMatchObject({ kind: "unauthorized" });
    expect(onUnauthorized).not.toHaveBeenCalled();
  });

  it("puts a taken email next to the email field", async () => {
    const api = createApi({ fetch: recordingFetch(409, { detail: "An account with this email already exists" }) });
    await expect(api.register({ email: "a@b.co", password: "longenough" })).rejects.toMatchObject({
      kind: "conflict",
      fieldErrors: { email: expect.stringMatching(/already exists/) },
    });
  });

  it("tells 'assistant not configured' apart from 'database down'", async () => {
    const notConfigured = createApi({
      fetch: recordingFetch(503, { detail: "The assistant is not configured on this server (no OPENAI_API_KEY)." }),
    });
    await expect(notConfigured.chat("hi")).rejects.toMatchObject({ kind: "not_configured" });
    const dbDown = createApi({ fetch: recordingFetch(503, { detail: "The database is unavailable right now." }) });
    await expect(dbDown.chat("hi")).rejects.toMatchObject({ kind: "unavailable" });
  });

  it("sends the conversation id only when there is one", async () => {
    const fetch = recordingFetch(200, { conversation_id: "c", reply: "ok", actions: [] });
    const api = createApi({ fetch });
    await api.chat("one");
    await api.chat("two", "c");
    expect(JSON.parse(String(fetch.mock.calls[0][1]?.body))).toEqual({ message: "one" });
    expect(JSON.parse(String(fetch.mock.calls[1][1]?.body))).toEqual({ message: "two", conversation_id: "c" });
  });
});

describe("loadTaskData", () => {
  it("counts locally when the unfiltered page holds every task (one request)", async () => {
    const backend = fakeBackend([{ title: "a" }, { title: "b", completed: true }]);
    const data = await loadTaskData(createApi({ fetch: backend.fetch }), { status: "all", priority: "", q: "" });
    expect(data.counts).toEqual({ open: 1, done: 1 });
    expect(data.page.items.map((t) => t.title)).toEqual(["b", "a"]);
    expect(backend.calls).toHaveLength(1);
  });

  it("renders from one request: counts only when the unfiltered page holds every task", async () => {
    const backend = fakeBackend([{ title: "a" }, { title: "b", completed: true }]);
    const api = createApi({ fetch: backend.fetch });
    expect((await loadFirstPage(api, { status: "all", priority: "", q: "" })).counts).toEqual({ open: 1, done: 1 });
    const filtered = await loadFirstPage(api, { status: "pending", priority: "", q: "a" });
    expect(filtered.page.items.map((t) => t.title)).toEqual(["a"]);
    expect(filtered.counts).toBeNull();
    expect(backend.calls.map((c) => c.url)).toEqual(["/api/v1/tasks?limit=100", "/api/v1/tasks?status=pending&q=a&limit=100"]);
  });

  it("asks the backend for counts when filtered", async () => {
    const backend = fakeBackend([{ title: "milk" }, { title: "bread", completed: true }, { title: "milk 2", completed: true }]);
    const data = await loadTaskData(createApi({ fetch: backend.fetch }), { status: "completed", priority: "", q: "milk" });
    expect(data.page.items.map((t) => t.title)).toEqual(["milk 2"]);
    expect(data.counts).toEqual({ open: 1, done: 2 });
    expect(backend.calls.map((c) => c.url).sort()).toEqual([
      "/api/v1/tasks?status=completed&limit=1",
      "/api/v1/tasks?status=completed&q=milk&limit=100",
      "/api/v1/tasks?status=pending&limit=1",
    ]);
  });
});
