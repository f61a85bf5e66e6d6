// @vitest-environment node
// Against a real HTTP server on loopback: connection reuse, the retry after a reused
// connection is reset, and errors as the data layer sees them.

import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createApi } from "./api";
import { IDLE_SOCKET_MS, backendFetch, createBackendFetch } from "./backend-http";

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  socket: Socket;
}

const servers: http.Server[] = [];

/** A server answering with `reply`; `seen` lists every request, `connections` every socket. */
async function serve(reply: (seen: Seen, res: http.ServerResponse) => void) {
  const seen: Seen[] = [];
  const connections: Socket[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      const entry = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body, socket: req.socket };
      seen.push(entry);
      reply(entry, res);
    });
  });
  server.on("connection", (socket) => connections.push(socket));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, seen, connections };
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const json = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};

describe("backendFetch", () => {
  it("sends method, headers and body, and reads status and text", async () => {
    const backend = await serve((_, res) => json(res, 201, { id: 7 }));
    const res = await backendFetch(`${backend.base}/api/v1/tasks`, {
      method: "POST",
      headers: { cookie: "todo_session=abc", "Content-Type": "application/json" },
      body: JSON.stringify({ title: "A" }),
    });
    expect(res.status).toBe(201);
    expect(res.ok).toBe(true);
    expect(JSON.parse(await res.text())).toEqual({ id: 7 });
    expect(backend.seen[0]).toMatchObject({ method: "POST", url: "/api/v1/tasks", body: '{"title":"A"}' });
    expect(backend.seen[0].headers.cookie).toBe("todo_session=abc");
  });

  it("keeps one connection for one request after another", async () => {
    const backend = await serve((_, res) => json(res, 200, { items: [], total: 0 }));
    for (let i = 0; i < 3; i++) {
      const res = await backendFetch(`${backend.base}/api/v1/tasks`, { method: "GET" });
      expect(res.status).toBe(200);
    }
    expect(backend.seen).toHaveLength(3);
    expect(backend.connections).toHaveLength(1);
  });

  it("closes an idle connection itself, before the backend's 5 s keep-alive timeout would", async () => {
    const backend = await serve((_, res) => json(res, 200, {}));
    await backendFetch(`${backend.base}/a`, { method: "GET" });
    const [socket] = backend.connections;
    const closed = new Promise<number>((resolve) => {
      const since = Date.now();
      socket.on("close", () => resolve(Date.now() - since));
    });
    const after = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(-1), 4900))]);
    expect(after).toBeGreaterThanOrEqual(IDLE_SOCKET_MS - 100);
    expect(IDLE_SOCKET_MS).toBeLessThan(5000);
  }, 10_000);

  it("sends a GET again on a new connection when the reused one is reset", async () => {
    // The second request on a connection finds it closed, as when the backend's keep-alive
    // timeout ends it just as the request goes out.
    const backend = await serve((seen, res) => {
      const onThisSocket = backend.seen.filter((s) => s.socket === seen.socket).length;
      if (onThisSocket === 2) seen.socket.destroy();
      else json(res, 200, { n: backend.seen.length });
    });
    await backendFetch(`${backend.base}/a`, { method: "GET" });
    const res = await backendFetch(`${backend.base}/b`, { method: "GET" });
    expect(JSON.parse(await res.text())).toEqual({ n: 3 });
    expect(backend.connections).toHaveLength(2);
  });

  it("does not send a POST twice", async () => {
    const backend = await serve((seen, res) => {
      const onThisSocket = backend.seen.filter((s) => s.socket === seen.socket).length;
      if (onThisSocket === 2) seen.socket.destroy();
      else json(res, 201, {});
    });
    await backendFetch(`${backend.base}/a`, { method: "POST", body: "{}" });
    await expect(backendFetch(`${backend.base}/b`, { method: "POST", body: "{}" })).rejects.toMatchObject({
      code: "ECONNRESET",
    });
    expect(backend.seen.map((s) => s.url)).toEqual(["/a", "/b"]);
  });

  it("gives the data layer what it needs: errors with their status, an unreachable backend as a network error", async () => {
    const backend = await serve((_, res) => json(res, 401, { detail: "Not authenticated" }));
    const api = createApi({ baseUrl: backend.base, fetch: backendFetch });
    await expect(api.me()).rejects.toMatchObject({ kind: "unauthorized", status: 401 });

    const closed = await serve(() => {});
    const port = new URL(closed.base).port;
    await new Promise((resolve) => servers.pop()?.close(resolve));
    const unreachable = createApi({ baseUrl: `http://127.0.0.1:${port}`, fetch: backendFetch });
    await expect(unreachable.me()).rejects.toMatchObject({ kind: "network" });
  });

  it("gives up on a backend that never answers, or stops halfway, as a network error", async () => {
    const silent = await serve(() => {});
    const impatient = createApi({ baseUrl: silent.base, fetch: createBackendFetch(200) });
    await expect(impatient.me()).rejects.toMatchObject({ kind: "network" });

    const halfway = await serve((seen, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": "100" });
      res.write('{"items": [');
      setTimeout(() => seen.socket.destroy(), 50);
    });
    await expect(backendFetch(`${halfway.base}/api/v1/tasks`, { method: "POST" })).rejects.toThrow();
  });
});
