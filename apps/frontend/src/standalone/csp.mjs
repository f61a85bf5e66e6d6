// The page Content-Security-Policy with a fresh nonce per response (issue 14), added in front
// of Next's request handler (see server.mjs) instead of by a Next "proxy" (middleware): the
// proxy cost about 2 ms of Node CPU per page render (bench/frontend_ttfb.py), and this costs
// a few microseconds. Plain JavaScript: the built server runs it as it is.

import { randomBytes } from "node:crypto";

/** A fresh nonce (128 random bits, base64). */
export function newNonce() {
  return randomBytes(16).toString("base64");
}

/**
 * The page CSP. Next.js hydrates with inline scripts; it puts this nonce on them (and on its
 * own script tags) when it finds it in the request's Content-Security-Policy header, and
 * 'strict-dynamic' extends trust to the chunks those scripts load. Everything else comes
 * from this origin: the browser talks to the backend same-origin at /api (the Ingress routes
 * it). No 'upgrade-insecure-requests': the dev Ingress serves plain http.
 */
export function contentSecurityPolicy(nonce) {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'`,
    `style-src 'self' 'nonce-${nonce}'`,
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

// Static chunks carry no markup, and /healthz is JSON for the kubelet (both still get the
// headers from next.config.ts).
const WITHOUT_CSP = /^\/(?:_next\/static|_next\/image|healthz|favicon\.ico)/;

/** Whether a request path (with its query) gets the page CSP. */
export function needsCsp(url) {
  return !WITHOUT_CSP.test(url || "/");
}

/**
 * Wraps a Node request listener: a page response gets a fresh nonce CSP, and its request the
 * same policy, which is where Next.js looks for the nonce. Whatever CSP the client sent is
 * replaced, so a client can never choose the nonce.
 */
export function withCsp(listener) {
  return function cspListener(req, res) {
    if (needsCsp(req.url)) {
      const csp = contentSecurityPolicy(newNonce());
      delete req.headers["content-security-policy-report-only"];
      req.headers["content-security-policy"] = csp;
      res.setHeader("Content-Security-Policy", csp);
    }
    return listener.call(this, req, res);
  };
}
