// The server's link to the backend: node:http over kept-alive connections.
// Measured on the task page (bench/frontend_ttfb.py), the global fetch, as Next.js patches it
// for its data cache, cost about a third of the Node CPU of a whole render; this costs a
// fraction of that, and each render reuses a warm connection instead of opening one.

import http from "node:http";
import https from "node:https";
import type { FetchLike, FetchResponse } from "./api";

/** Idle connections close after this, before uvicorn's own 5 s keep-alive timeout does: a
 * request never goes out on a socket the backend is closing. */
export const IDLE_SOCKET_MS = 4000;

const agents = {
  "http:": new http.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
  "https:": new https.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
};

/** How long a page waits for the backend's whole answer before showing "unavailable" (the
 * global fetch it replaces gave up on a silent backend only after 5 minutes). */
export const BACKEND_TIMEOUT_MS = 30_000;

// Safe to send twice: the backend may have closed a reused connection just as it went out.
const RETRYABLE = new Set(["GET", "HEAD", "OPTIONS"]);

function send(url: URL, init: RequestInit, timeoutMs: number, retried = false): Promise<FetchResponse> {
  const agent = agents[url.protocol as keyof typeof agents];
  if (!agent) return Promise.reject(new TypeError(`unsupported protocol: ${url.protocol}`));
  const method = (init.method ?? "GET").toUpperCase();
  return new Promise((resolve, reject) => {
    const request = (url.protocol === "https:" ? https : http).request(
      url,
      { method, agent, headers: init.headers as Record<string, string> | undefined },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        // A connection lost mid-body: Node reports it here ("aborted").
        response.on("error", (error) => {
          clearTimeout(timer);
          reject(error);
        });
        response.on("end", () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString("utf8");
          const status = response.statusCode ?? 0;
          resolve({ status, ok: status >= 200 && status < 300, text: async () => text });
        });
      },
    );
    const timer = setTimeout(() => request.destroy(new Error(`no answer from the backend in ${timeoutMs} ms`)), timeoutMs);
    request.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (!retried && request.reusedSocket && error.code === "ECONNRESET" && RETRYABLE.has(method)) {
        resolve(send(url, init, timeoutMs, true));
      } else reject(error);
    });
    request.end(typeof init.body === "string" ? init.body : undefined);
  });
}

/** A FetchLike for server code: string bodies only (all the API sends), JSON text back. */
export function createBackendFetch(timeoutMs = BACKEND_TIMEOUT_MS): FetchLike {
  return async (input, init = {}) => send(new URL(input), init, timeoutMs);
}

export const backendFetch = createBackendFetch();
