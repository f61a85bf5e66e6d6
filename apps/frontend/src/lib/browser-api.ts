"use client";

// The browser's data layer: same-origin /api/... (the Ingress routes it to the backend).
// Any 401 means the session is gone: send the person to sign in, then back here.

import { createApi, type Api } from "./api";
import { signInUrl } from "./navigation";

let instance: Api | null = null;

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
