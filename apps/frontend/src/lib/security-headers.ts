// The browser-side defences every response carries (issue 14): what may run, who may frame
// us, what the browser may guess, and what a link tells the next site.

/** Headers for every response, static files included (next.config.ts adds them). */
export const STATIC_SECURITY_HEADERS: ReadonlyArray<{ key: string; value: string }> = [
  // Older browsers ignore CSP frame-ancestors; both say: never inside a frame (clickjacking).
  { key: "X-Frame-Options", value: "DENY" },
  { key: "X-Content-Type-Options", value: "nosniff" },
  // Task filters and searches live in the URL: they never leave in a Referer.
  { key: "Referrer-Policy", value: "same-origin" },
  { key: "Permissions-Policy", value: "camera=(), microphone=(), geolocation=(), payment=()" },
];

/** A fresh nonce per response (128 random bits, base64). */
export function newNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes));
}

/**
 * The page CSP. Next.js hydrates with inline scripts; it puts this nonce on them (and on its
 * own script tags) when it finds it in the request's Content-Security-Policy header, and
 * 'strict-dynamic' extends trust to the chunks those scripts load. Everything else comes
 * from this origin: the browser talks to the backend same-origin at /api (the Ingress routes
 * it). No 'upgrade-insecure-requests': the dev Ingress serves plain http.
 * `dev` adds 'unsafe-eval', which `next dev` (not a production build) needs.
 */
export function contentSecurityPolicy(nonce: string, dev = false): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${dev ? " 'unsafe-eval'" : ""}`,
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
