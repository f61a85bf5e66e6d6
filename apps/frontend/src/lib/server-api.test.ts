// @vitest-environment node
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";

const visitor = { cookie: "" };
vi.mock("next/headers", () => ({ headers: async () => new Headers(visitor.cookie ? { cookie: visitor.cookie } : {}) }));

const { hasSessionCookie, serverApi } = await import("./server-api");

describe("hasSessionCookie", () => {
  it("finds the backend's session cookie among others", () => {
    expect(hasSessionCookie("theme=dark; todo_session=abc.def")).toBe(true);
    expect(hasSessionCookie("todo_session=x")).toBe(true);
    expect(hasSessionCookie("theme=dark; __Host-todo_session=x")).toBe(true);
    expect(hasSessionCookie("not_todo_session=x; other=1")).toBe(false);
    expect(hasSessionCookie("")).toBe(false);
  });
});

describe("serverApi", () => {
  let server: http.Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    vi.unstubAllEnvs();
  });

  it("asks API_BASE_URL with the visitor's cookie over node:http, not the global fetch", async () => {
    const cookies: Array<string | undefined> = [];
    server = http.createServer((req, res) => {
      cookies.push(req.headers.cookie);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ items: [], total: 0 }));
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    vi.stubEnv("API_BASE_URL", `http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    // Next.js patches the global fetch (data cache, tracing): the page's request skips it.
    const globalFetch = vi.spyOn(globalThis, "fetch");
    visitor.cookie = "todo_session=abc";

    const { api, hasCookie, hadSession } = await serverApi();
    expect(await api.listTasks({ limit: 100 })).toEqual({ items: [], total: 0 });
    expect(cookies).toEqual(["todo_session=abc"]);
    expect([hasCookie, hadSession]).toEqual([true, true]);
    expect(globalFetch).not.toHaveBeenCalled();
  });
});
