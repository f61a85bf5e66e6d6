// The one data layer for both sides: the browser uses it same-origin ("/api/v1/..."),
// server components use it with API_BASE_URL and the visitor's Cookie header.

import { ApiError, MESSAGES, errorFromResponse } from "./errors";
import { taskQuery } from "./tasks";
import type {
  AssistantReply,
  Task,
  TaskFilters,
  TaskInput,
  TaskPage,
  TaskPatch,
  User,
} from "./types";

/** What the data layer reads from a response (a fetch Response has it). */
export type FetchResponse = Pick<Response, "status" | "ok" | "text">;
export type FetchLike = (input: string, init?: RequestInit) => Promise<FetchResponse>;

export interface ApiOptions {
  /** "" for same-origin browser calls, or the backend origin on the server. */
  baseUrl?: string;
  /** Extra headers for every request (the server forwards the visitor's Cookie). */
  headers?: Record<string, string>;
  fetch?: FetchLike;
  /** Called once for every 401, before the error is thrown (the browser goes to sign in); not
   *  after logout(): a request still under way then gets its 401 from the sign-out itself. */
  onUnauthorized?: () => void;
}

export interface LoginResult {
  access_token: string;
  token_type: string;
  user: User;
}

async function readJson(res: FetchResponse): Promise<unknown> {
  if (res.status === 204) return undefined;
  const text = await res.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined; // an HTML error page from a proxy: treat as "no body"
  }
}

function isNotConfigured(body: unknown): boolean {
  const detail = body && typeof body === "object" ? (body as { detail?: unknown }).detail : undefined;
  return typeof detail === "string" && /not configured/i.test(detail);
}

export function createApi(options: ApiOptions = {}) {
  const baseUrl = options.baseUrl ?? "";
  const doFetch: FetchLike = options.fetch ?? ((input, init) => fetch(input, init));
  // Set by logout(): a browser fetch started before the sign-out (the counts after an add)
  // can come back 401 after it, and must not send the person to "your session has expired".
  let signedOut = false;

  async function request<T>(
    method: string,
    path: string,
    body?: unknown,
    opts: { allow401?: boolean; errorFor?: (status: number, body: unknown) => ApiError | null } = {},
  ): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res: FetchResponse;
    try {
      res = await doFetch(baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch {
      throw new ApiError("network", MESSAGES.network);
    }
    const parsed = await readJson(res);
    if (res.ok) return parsed as T;
    const special = opts.errorFor?.(res.status, parsed);
    const error = special ?? errorFromResponse(res.status, parsed);
    if (error.kind === "unauthorized" && !opts.allow401 && !signedOut) options.onUnauthorized?.();
    throw error;
  }

  return {
    register: (input: { email: string; password: string; name?: string }) =>
      request<User>("POST", "/api/v1/auth/register", input, {
        allow401: true,
        errorFor: (status) =>
          status === 409
            ? new ApiError("conflict", "An account with this email already exists. Sign in instead?", 409, {
                email: "An account with this email already exists.",
              })
            : null,
      }),
    login: (input: { email: string; password: string }) =>
      request<LoginResult>("POST", "/api/v1/auth/login", input, {
        allow401: true,
        errorFor: (status) =>
          status === 401 ? new ApiError("unauthorized", "Email or password is incorrect.", 401) : null,
      }),
    logout: () => {
      signedOut = true;
      return request<void>("POST", "/api/v1/auth/logout", undefined, { allow401: true });
    },
    me: () => request<User>("GET", "/api/v1/auth/me"),

    listTasks: (filters: Partial<TaskFilters> & { limit?: number; offset?: number } = {}) =>
      request<TaskPage>("GET", `/api/v1/tasks${taskQuery(filters)}`),
    createTask: (input: TaskInput) => request<Task>("POST", "/api/v1/tasks", input),
    updateTask: (id: Task["id"], patch: TaskPatch) =>
      request<Task>("PATCH", `/api/v1/tasks/${encodeURIComponent(String(id))}`, patch),
    deleteTask: (id: Task["id"]) =>
      request<void>("DELETE", `/api/v1/tasks/${encodeURIComponent(String(id))}`),

    chat: (message: string, conversationId?: AssistantReply["conversation_id"]) =>
      request<AssistantReply>(
        "POST",
        "/api/v1/assistant/chat",
        conversationId == null ? { message } : { message, conversation_id: conversationId },
        {
          // The backend answers 503 both for "no OpenAI key" and for "database down";
          // only the first means the assistant is switched off.
          errorFor: (status, body) =>
            status === 503 && isNotConfigured(body)
              ? new ApiError(
                  "not_configured",
                  "The assistant is not configured on this server (no OpenAI API key is set). Your tasks work as usual without it.",
                  503,
                )
              : null,
        },
      ),
  };
}

export type Api = ReturnType<typeof createApi>;
