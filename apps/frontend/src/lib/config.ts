// Server-only settings, read at request time so one image serves every environment.

const DEFAULT_API_BASE_URL = "http://127.0.0.1:8000";

/** The backend origin without a path, e.g. http://todo-backend:8000 (the ConfigMap sets it). */
export function apiBaseUrl(env: Record<string, string | undefined> = process.env): string {
  const raw = (env.API_BASE_URL ?? "").trim() || DEFAULT_API_BASE_URL;
  return raw.replace(/\/+$/, "");
}
