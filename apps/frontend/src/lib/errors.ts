// Turns whatever the backend (or the network) did into something a person can act on.

export type ApiErrorKind =
  | "network" // the request never got an answer: backend or proxy unreachable
  | "unavailable" // a gateway/backend answered 502/503/504
  | "unauthorized" // 401: no session or it expired
  | "validation" // 422 (or 400/409 naming a field)
  | "not_found"
  | "conflict"
  | "not_configured" // assistant: the backend has no OpenAI key
  | "http"; // anything else

export type FieldErrors = Record<string, string>;

export class ApiError extends Error {
  readonly kind: ApiErrorKind;
  readonly status: number;
  readonly fieldErrors: FieldErrors;

  constructor(kind: ApiErrorKind, message: string, status = 0, fieldErrors: FieldErrors = {}) {
    super(message);
    this.name = "ApiError";
    this.kind = kind;
    this.status = status;
    this.fieldErrors = fieldErrors;
  }
}

export const MESSAGES = {
  network: "Can't reach the server. Check your connection, then try again.",
  unavailable: "The server isn't responding right now. Try again in a moment.",
  unauthorized: "Your session has ended. Please sign in again.",
  notFound: "That item no longer exists. The list has been refreshed.",
  generic: "Something went wrong. Try again.",
} as const;

interface ValidationItem {
  loc?: unknown[];
  msg?: string;
}

const FIELD_NAMES: Record<string, string> = {
  title: "Title",
  description: "Description",
  priority: "Priority",
  due_date: "Due date",
  email: "Email",
  password: "Password",
  name: "Name",
  message: "Message",
};

/**
 * Makes a validator message read as a sentence next to its field: strips pydantic's
 * "Value error, " and gives a subject to fragments like "is not a valid email address".
 */
export function tidyMessage(field: string, msg: string): string {
  const cleaned = msg.replace(/^Value error, /i, "").trim();
  if (/^[a-z]/.test(cleaned)) {
    const subject = FIELD_NAMES[field] ?? "This value";
    return `${subject} ${cleaned}`;
  }
  return cleaned;
}

/**
 * FastAPI 422 detail is a list of {loc: ["body", "title"], msg}. Map each to its field
 * (the last string in loc), keeping the first message per field.
 */
export function fieldErrorsFromDetail(detail: unknown): FieldErrors {
  const out: FieldErrors = {};
  if (!Array.isArray(detail)) return out;
  for (const item of detail as ValidationItem[]) {
    if (!item || typeof item !== "object") continue;
    const loc = Array.isArray(item.loc) ? item.loc : [];
    const strings = loc.filter((part): part is string => typeof part === "string" && part !== "body");
    const field = strings.length ? strings[strings.length - 1] : "_form";
    if (!(field in out) && typeof item.msg === "string") out[field] = tidyMessage(field, item.msg);
  }
  return out;
}

/** A human sentence from a {detail} body that may be a string, a list or absent. */
export function messageFromDetail(detail: unknown, fallback: string): string {
  if (typeof detail === "string" && detail.trim()) return detail;
  if (Array.isArray(detail)) {
    const first = Object.values(fieldErrorsFromDetail(detail))[0];
    if (first) return first;
  }
  if (detail && typeof detail === "object" && "message" in detail) {
    const m = (detail as { message?: unknown }).message;
    if (typeof m === "string" && m.trim()) return m;
  }
  return fallback;
}

/** Builds the ApiError for a non-2xx response whose JSON body (if any) was already parsed. */
export function errorFromResponse(status: number, body: unknown): ApiError {
  const detail = body && typeof body === "object" ? (body as { detail?: unknown }).detail : undefined;
  if (status === 401) return new ApiError("unauthorized", MESSAGES.unauthorized, status);
  if (status === 422 || status === 400) {
    const fields = fieldErrorsFromDetail(detail);
    return new ApiError("validation", messageFromDetail(detail, "Please check the highlighted fields."), status, fields);
  }
  if (status === 404) return new ApiError("not_found", messageFromDetail(detail, MESSAGES.notFound), status);
  if (status === 409) return new ApiError("conflict", messageFromDetail(detail, "That already exists."), status);
  if (status === 502 || status === 503 || status === 504) {
    // A JSON {detail} is the backend explaining itself (database down, assistant upstream
    // failed); an HTML page or nothing at all is a proxy saying the backend is down.
    return new ApiError("unavailable", typeof detail === "string" && detail.trim() ? detail : MESSAGES.unavailable, status);
  }
  return new ApiError("http", messageFromDetail(detail, MESSAGES.generic), status);
}
