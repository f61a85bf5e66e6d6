// Server-side access to the backend: API_BASE_URL + the visitor's own session cookie.

import { headers } from "next/headers";
import { createApi, type Api } from "./api";
import { backendFetch } from "./backend-http";
import { apiBaseUrl } from "./config";

/** The backend's session cookie. Only used to word a message ("your session has expired"):
 * whether someone is signed in is always the backend's answer, never this name's presence. */
export const SESSION_COOKIE = "todo_session";

export function hasSessionCookie(cookieHeader: string): boolean {
  return cookieHeader.split(";").some((part) => part.trim().startsWith(`${SESSION_COOKIE}=`));
}

export async function serverApi(): Promise<{ api: Api; hasCookie: boolean; hadSession: boolean }> {
  const cookie = (await headers()).get("cookie") ?? "";
  const api = createApi({ baseUrl: apiBaseUrl(), headers: cookie ? { cookie } : {}, fetch: backendFetch });
  return { api, hasCookie: cookie.length > 0, hadSession: hasSessionCookie(cookie) };
}
