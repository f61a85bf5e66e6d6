// Where to send people after signing in, shared by server pages and client components.

// Any origin works as the reference: a path that resolves onto it stays on whichever
// origin serves the app. ".invalid" can never be a real host (RFC 2606).
const REFERENCE_ORIGIN = "https://app.invalid";

// Browsers drop TAB, CR and LF inside URLs and read "\" as "/", so "/\t/evil.example" or
// "/\evil.example" becomes "//evil.example": another origin. Refuse them outright, with
// every other control character, and refuse their percent-escapes too, at any depth of
// re-encoding ("%09", "%2509", ...), since a later decode would bring them back.
const UNSAFE_CHARS = /[\u0000-\u001f\u007f\\]/;
const UNSAFE_ESCAPES = /%(?:25)*(?:[01][0-9a-f]|7f|5c)/i;

/** `next` if it is a path on this origin, else "/" (no open redirect after sign-in). */
export function safeNext(next: string | undefined | null): string {
  if (!next || !next.startsWith("/") || next.startsWith("//")) return "/";
  if (UNSAFE_CHARS.test(next) || UNSAFE_ESCAPES.test(next)) return "/";
  let resolved: URL;
  try {
    resolved = new URL(next, REFERENCE_ORIGIN);
  } catch {
    return "/";
  }
  if (resolved.origin !== REFERENCE_ORIGIN || resolved.pathname.startsWith("//")) return "/";
  return next;
}

/** The sign-in URL that brings the person back to `next` afterwards. */
export function signInUrl(reason: "expired" | null, next?: string): string {
  const params = new URLSearchParams();
  if (reason) params.set("reason", reason);
  const back = safeNext(next);
  if (back !== "/") params.set("next", back);
  const s = params.toString();
  return s ? `/signin?${s}` : "/signin";
}
