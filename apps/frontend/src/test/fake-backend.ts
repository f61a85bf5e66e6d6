// An in-memory stand-in for the backend's HTTP API, spoken through fetch, so unit tests
// exercise the real data layer (createApi) and components together. The browser e2e
// test (tests/e2e) runs against the real backend.

import type { Task, User } from "@/lib/types";

export interface FakeBackend {
  fetch: (input: string, init?: RequestInit) => Promise<Response>;
  tasks: Task[];
  calls: Array<{ method: string; url: string; body: unknown }>;
  /** Next response override for a path prefix: a status and body, or "network" to throw. */
  failNext: (match: string, response: { status: number; body?: unknown } | "network") => void;
  chatReply: { reply: string; actions: unknown[] } | null;
  /** Who GET /api/v1/auth/me says is signed in. */
  user: User;
}

const json = (status: number, body?: unknown) =>
  new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: body === undefined ? {} : { "content-type": "application/json" },
  });

export function fakeBackend(initial: Partial<Task>[] = []): FakeBackend {
  let nextId = 1;
  const now = "2026-01-01T00:00:00Z";
  const make = (t: Partial<Task>): Task => ({
    id: nextId++,
    title: "Untitled",
    description: null,
    completed: false,
    priority: "medium",
    due_date: null,
    created_at: now,
    updated_at: now,
    ...t,
  });
  const failures: Array<{ match: string; response: { status: number; body?: unknown } | "network" }> = [];
  const backend: FakeBackend = {
    tasks: initial.map(make),
    calls: [],
    chatReply: null,
    user: { id: 1, email: "ada@example.com", name: "Ada" },
    failNext(match, response) {
      failures.push({ match, response });
    },
    async fetch(input, init = {}) {
      const method = (init.method ?? "GET").toUpperCase();
      const url = new URL(input, "http://frontend.test");
      const body = typeof init.body === "string" ? JSON.parse(init.body) : undefined;
      backend.calls.push({ method, url: url.pathname + url.search, body });
      const failure = failures.findIndex((f) => url.pathname.startsWith(f.match));
      if (failure >= 0) {
        const [{ response }] = failures.splice(failure, 1);
        if (response === "network") throw new TypeError("fetch failed");
        return json(response.status, response.body);
      }
      const path = url.pathname;
      if (path === "/api/v1/tasks" && method === "GET") {
        const status = url.searchParams.get("status") ?? "all";
        const priority = url.searchParams.get("priority");
        const q = (url.searchParams.get("q") ?? "").toLowerCase();
        const limit = Number(url.searchParams.get("limit") ?? 50);
        const offset = Number(url.searchParams.get("offset") ?? 0);
        const matching = [...backend.tasks]
          .reverse() // newest first, like the backend's default sort
          .filter((t) => status === "all" || (status === "completed") === t.completed)
          .filter((t) => !priority || t.priority === priority)
          .filter((t) => !q || `${t.title} ${t.description ?? ""}`.toLowerCase().includes(q));
        return json(200, { items: matching.slice(offset, offset + limit), total: matching.length });
      }
      if (path === "/api/v1/tasks" && method === "POST") {
        if (!body.title?.trim()) {
          return json(422, { detail: [{ loc: ["body", "title"], msg: "String should have at least 1 character", type: "string_too_short" }] });
        }
        const task = make(body);
        backend.tasks.push(task);
        return json(201, task);
      }
      const one = /^\/api\/v1\/tasks\/(\d+)$/.exec(path);
      if (one) {
        const index = backend.tasks.findIndex((t) => t.id === Number(one[1]));
        if (index < 0) return json(404, { detail: "Task not found" });
        if (method === "PATCH") {
          backend.tasks[index] = { ...backend.tasks[index], ...body };
          return json(200, backend.tasks[index]);
        }
        if (method === "DELETE") {
          backend.tasks.splice(index, 1);
          return json(204);
        }
        return json(200, backend.tasks[index]);
      }
      if (path === "/api/v1/assistant/chat" && method === "POST") {
        if (!backend.chatReply) {
          return json(503, { detail: "The assistant is not configured on this server (no OPENAI_API_KEY)." });
        }
        return json(200, { conversation_id: "c0ffee00-0000-4000-8000-000000000000", ...backend.chatReply });
      }
      if (path === "/api/v1/auth/logout") return json(204);
      if (path === "/api/v1/auth/me" && method === "GET") return json(200, backend.user);
      return json(404, { detail: "Not Found" });
    },
  };
  return backend;
}
