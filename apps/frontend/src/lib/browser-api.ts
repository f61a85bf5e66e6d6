"use client";

// The browser's data layer: same-origin /api/... (the Ingress routes it to the backend).
// Any 401 means the session is gone: send the person to sign in, then back here.

import { createApi, type Api } from "./api";

let instance: Api | null = null;

export function signInUrl(reason: "expired" | null, next?: string): string {
  const params = new URLSearchParams();
  if (reason) params.set("reason", reason);
  if (next && next.startsWith("/") && !next.startsWith("//") && next !== "/") params.set("next", next);
  const s = params.toString();
  return s ? `/signin?${s}` : "/signin";
}

export function browserApi(): Api {
  if (!instance) {
    instance = createApi({
      onUnauthorized: () => {
        const here = window.location.pathname + window.location.search;
        window.location.assign(signInUrl("expired", here));
      },
    });
  }
  return instance;
}
