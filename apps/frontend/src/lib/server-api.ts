// Server-side access to the backend: API_BASE_URL + the visitor's own session cookie.

import { headers } from "next/headers";
import { createApi, type Api } from "./api";
import { apiBaseUrl } from "./config";

export async function serverApi(): Promise<{ api: Api; hasCookie: boolean }> {
  const cookie = (await headers()).get("cookie") ?? "";
  const api = createApi({ baseUrl: apiBaseUrl(), headers: cookie ? { cookie } : {} });
  return { api, hasCookie: cookie.length > 0 };
}
