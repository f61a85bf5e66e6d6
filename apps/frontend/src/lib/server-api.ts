// Server-side access to the backend: API_BASE_URL + the visitor's own session cookie.

import { headers } from "next/headers";
import { createApi, type Api } from "./api";
import { backendFetch } from "./backend-http";
import { apiBaseUrl } from "./config";

/** The backend's session cookie. Only used to word a message ("your session has expired"):
 * whether someone is signed in is always the backend's answer, never this name's presence.
 * Over HTTPS (COOKIE_SECURE) the backend names it with the __Host- prefix. */
export const SESSION_COOKIE = "todo_session";
const SESSION_COOKIE_NAMES = [SESSION_COOKIE, `__Host-${SESSION_COOKIE}`];

export function hasSessionCookie(cookieHeader: string): boolean {
  return cookieHeader
    .split(";")
    .some((part) => SESSION_COOKIE_NAMES.some((name) => part.trim().startsWith(`${name}=`)));
}

export async function serverApi(): Promise<{ api: Api; hasCookie: boolean; hadSession: boolean }> {
  const cookie = (await headers()).get("cookie") ?? "";
  const api = createApi({ baseUrl: apiBaseUrl(), headers: cookie ? { cookie } : {}, fetch: backendFetch });
  return { api, hasCookie: cookie.length > 0, hadSession: hasSessionCookie(cookie) };
}
