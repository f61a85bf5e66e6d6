// The standalone bundle's entry: scripts/assemble-standalone.mjs installs this file as
// server.js and keeps the one Next.js generates as next-server.js. It runs Next's own server
// unchanged, except that the request listener Next gives its HTTP server is wrapped to add
// the per-response CSP (./csp.mjs) before Next sees the request.

import http from "node:http";
import { withCsp } from "./csp.mjs";

const createServer = http.createServer;
// Next's start-server makes one HTTP server: wrap that one, then put the original back.
http.createServer = function createServerWithCsp(...args) {
  http.createServer = createServer;
  const at = args.findIndex((arg) => typeof arg === "function");
  if (at < 0) throw new Error("server.js: Next.js created its HTTP server without a request listener");
  args[at] = withCsp(args[at]);
  return createServer.apply(this, args);
};

await import("./next-server.js");
