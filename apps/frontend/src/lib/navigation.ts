// Where to send people after signing in, shared by server pages and client components.

/** Only same-site paths: never "//host" or a full URL (no open redirect). */
export function safeNext(next: string | undefined | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
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
