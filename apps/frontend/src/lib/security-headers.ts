// The browser-side defences every response carries (issue 14): what may run, who may frame
// us, what the browser may guess, and what a link tells the next site.

/** Headers for every response, static files included (next.config.ts adds them). The page
 * CSP, which needs a nonce per response, comes from src/standalone/csp.mjs. */
export const STATIC_SECURITY_HEADERS: ReadonlyArray<{ key: string; value: string }> = [
  // Older browsers ignore CSP frame-ancestors; both say: never inside a frame (clickjacking).
  { key: "X-Frame-Options", value: "DENY" },
  { key: "X-Content-Type-Options", value: "nosniff" },
  // Task filters and searches live in the URL: they never leave in a Referer.
  { key: "Referrer-Policy", value: "same-origin" },
  { key: "Permissions-Policy", value: "camera=(), microphone=(), geolocation=(), payment=()" },
];
