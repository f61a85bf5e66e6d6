// @vitest-environment node
// The CSP wrapper on real HTTP servers: the listener alone, and the standalone entry
// (server.mjs) starting a stand-in for Next's generated server in its own Node process.

import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { contentSecurityPolicy, needsCsp, newNonce, withCsp } from "./csp.mjs";

const nonceOf = (csp: string | string[] | undefined) => /'nonce-([^']+)'/.exec(String(csp ?? ""))?.[1];

function get(port: number, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path, headers }, (res) => {
        let body = "";
        res.on("data", (chunk) => (body += chunk));
        res.on("end", () => resolve({ headers: res.headers, body }));
      })
      .on("error", reject);
  });
}

describe("content security policy", () => {
  it("allows scripts only with this response's nonce and never inside a frame", () => {
    const csp = contentSecurityPolicy("abc123");
    expect(csp).toContain("script-src 'self' 'nonce-abc123' 'strict-dynamic'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("object-src 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).not.toContain("unsafe-eval");
  });

  it("makes a new 128-bit nonce each time", () => {
    const a = newNonce();
    expect(Buffer.from(a, "base64")).toHaveLength(16);
    expect(newNonce()).not.toBe(a);
  });

  it("covers pages, not static chunks, images, the health check or the icon", () => {
    for (const page of ["/", "/?status=pending&q=task", "/signin?next=%2F", "/no-such-page", "/_next/data/x"]) {
      expect(needsCsp(page), page).toBe(true);
    }
    for (const other of ["/_next/static/chunks/a.js", "/_next/image?url=x", "/healthz", "/favicon.ico"]) {
      expect(needsCsp(other), other).toBe(false);
    }
  });
});

describe("withCsp", () => {
  const servers: http.Server[] = [];
  afterEach(() => servers.splice(0).forEach((s) => s.close()));

  async function serve() {
    const seen: Array<string | string[] | undefined> = [];
    const server = http.createServer(
      withCsp((req, res) => {
        seen.push(req.headers["content-security-policy"] ?? req.headers["content-security-policy-report-only"]);
        res.end("ok");
      }),
    );
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { port: (server.address() as AddressInfo).port, seen };
  }

  it("gives each page response a fresh nonce, the same one the request carries on to Next", async () => {
    const { port, seen } = await serve();
    const a = await get(port, "/");
    const b = await get(port, "/");
    expect(a.headers["content-security-policy"]).toBe(seen[0]);
    expect(b.headers["content-security-policy"]).toBe(seen[1]);
    expect(nonceOf(seen[0])).toBeTruthy();
    expect(nonceOf(seen[0])).not.toBe(nonceOf(seen[1]));
  });

  it("replaces whatever CSP the client sent, so the client never picks the nonce", async () => {
    const { port, seen } = await serve();
    const chosen = "script-src 'nonce-chosen'";
    const res = await get(port, "/", { "Content-Security-Policy": chosen, "Content-Security-Policy-Report-Only": chosen });
    expect(nonceOf(seen[0])).not.toBe("chosen");
    expect(nonceOf(res.headers["content-security-policy"])).toBe(nonceOf(seen[0]));
  });

  it("leaves the health check and static chunks alone", async () => {
    const { port, seen } = await serve();
    for (const path of ["/healthz", "/_next/static/chunks/a.js"]) {
      const res = await get(port, path);
      expect(res.headers["content-security-policy"], path).toBeUndefined();
    }
    expect(seen).toEqual([undefined, undefined]);
  });
});

describe("the standalone entry (server.mjs)", () => {
  let child: ChildProcess | undefined;
  let dir = "";
  afterEach(() => {
    child?.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("runs next-server.js with its HTTP server's listener wrapped", async () => {
    dir = mkdtempSync(join(tmpdir(), "standalone-"));
    copyFileSync(new URL("./server.mjs", import.meta.url), join(dir, "server.js"));
    copyFileSync(new URL("./csp.mjs", import.meta.url), join(dir, "csp.mjs"));
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    // Stands in for Next's generated server: one HTTP server, echoing the request's CSP.
    writeFileSync(
      join(dir, "next-server.js"),
      `import http from "node:http";
       const server = http.createServer((req, res) => res.end(req.headers["content-security-policy"] ?? ""));
       server.listen(0, "127.0.0.1", () => console.log("port " + server.address().port));`,
    );
    child = spawn(process.execPath, ["server.js"], { cwd: dir, stdio: ["ignore", "pipe", "inherit"] });
    const port = await new Promise<number>((resolve, reject) => {
      child!.stdout!.on("data", (data: Buffer) => {
        const m = /port (\d+)/.exec(String(data));
        if (m) resolve(Number(m[1]));
      });
      child!.on("exit", (code) => reject(new Error(`server.js exited with ${code}`)));
    });
    const page = await get(port, "/");
    expect(nonceOf(page.body)).toBeTruthy();
    expect(page.headers["content-security-policy"]).toBe(page.body);
    expect((await get(port, "/healthz")).body).toBe("");
  });
});
