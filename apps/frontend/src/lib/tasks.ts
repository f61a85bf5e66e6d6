// Pure task helpers: filters <-> URLs and queries, local matching, counts, dates.

import type { FieldErrors } from "./errors";
import { PRIORITIES, STATUS_FILTERS } from "./types";
import type { Priority, StatusFilter, Task, TaskCounts, TaskFilters, TaskInput } from "./types";

/** How many tasks one page shows; "Show more" fetches the next page. */
export const PAGE_SIZE = 100;

export const DEFAULT_FILTERS: TaskFilters = { status: "all", priority: "", q: "" };

type ParamSource = URLSearchParams | Record<string, string | string[] | undefined>;

function param(source: ParamSource, name: string): string {
  if (source instanceof URLSearchParams) return source.get(name) ?? "";
  const value = source[name];
  return (Array.isArray(value) ? value[0] : value) ?? "";
}

/** Reads filters from the page URL, ignoring anything unknown. */
export function filtersFromParams(source: ParamSource): TaskFilters {
  const status = param(source, "status") as StatusFilter;
  const priority = param(source, "priority") as Priority;
  return {
    status: STATUS_FILTERS.includes(status) ? status : "all",
    priority: PRIORITIES.includes(priority) ? priority : "",
    q: param(source, "q").slice(0, 200),
  };
}

/** "?status=completed&q=milk" for the address bar; "" when nothing is filtered. */
export function filtersToSearch(filters: TaskFilters): string {
  const params = new URLSearchParams();
  if (filters.status !== "all") params.set("status", filters.status);
  if (filters.priority) params.set("priority", filters.priority);
  if (filters.q.trim()) params.set("q", filters.q.trim());
  const s = params.toString();
  return s ? `?${s}` : "";
}

/** Query string for GET /api/v1/tasks. */
export function taskQuery(
  filters: Partial<TaskFilters> & { limit?: number; offset?: number; sort?: string },
): string {
  const params = new URLSearchParams();
  if (filters.status && filters.status !== "all") params.set("status", filters.status);
  if (filters.priority) params.set("priority", filters.priority);
  if (filters.q && filters.q.trim()) params.set("q", filters.q.trim());
  if (filters.sort) params.set("sort", filters.sort);
  if (filters.limit !== undefined) params.set("limit", String(filters.limit));
  if (filters.offset) params.set("offset", String(filters.offset));
  const s = params.toString();
  return s ? `?${s}` : "";
}

export function isUnfiltered(filters: TaskFilters): boolean {
  return filters.status === "all" && !filters.priority && !filters.q.trim();
}

/** Whether a task belongs in the list under these filters (mirrors the backend's rules). */
export function matchesFilters(task: Task, filters: TaskFilters): boolean {
  if (filters.status === "pending" && task.completed) return false;
  if (filters.status === "completed" && !task.completed) return false;
  if (filters.priority && task.priority !== filters.priority) return false;
  const q = filters.q.trim().toLowerCase();
  if (q) {
    const haystack = `${task.title} ${task.description ?? ""}`.toLowerCase();
    if (!haystack.includes(q)) return false;
  }
  return true;
}

export function countTasks(tasks: readonly Task[]): TaskCounts {
  let done = 0;
  for (const t of tasks) if (t.completed) done += 1;
  return { open: tasks.length - done, done };
}

/** The YYYY-MM-DD part of a due date, whether the backend sends a date or a datetime. */
export function dateOnly(value: string | null | undefined): string {
  if (!value) return "";
  const m = /^(\d{4}-\d{2}-\d{2})/.exec(value);
  return m ? m[1] : "";
}

/** Today's date as YYYY-MM-DD in the viewer's local time. */
export function localToday(now: Date = new Date()): string {
  const y = now.getFullYear();
  const m = String(now.getMonth() + 1).padStart(2, "0");
  const d = String(now.getDate()).padStart(2, "0");
  return `${y}-${m}-${d}`;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

export interface DueInfo {
  label: string;
  overdue: boolean;
  today: boolean;
}

/**
 * A short due label ("Due 5 Mar 2026", "Due today") and whether it is overdue.
 * Formats by hand so server and browser render the same text (no locale drift).
 */
export function describeDue(due: string | null, completed: boolean, today: string): DueInfo | null {
  const day = dateOnly(due);
  if (!day) return null;
  const [y, m, d] = day.split("-").map(Number);
  if (day === today) return { label: "Due today", overdue: false, today: true };
  const label = `Due ${d} ${MONTHS[m - 1] ?? "?"} ${y}`;
  return { label, overdue: !completed && day < today, today: false };
}

export type { FieldErrors } from "./errors";

/** Reads the add/edit form; optional empty fields become null. */
export function taskInputFromForm(form: FormData): TaskInput {
  const get = (name: string) => String(form.get(name) ?? "").trim();
  const priority = get("priority") as Priority;
  return {
    title: get("title"),
    description: get("description") || null,
    priority: PRIORITIES.includes(priority) ? priority : "medium",
    due_date: get("due_date") || null,
  };
}

/** Checks what the browser can check before asking the server; the server has the last word. */
export function validateTaskInput(input: TaskInput): FieldErrors {
  const errors: FieldErrors = {};
  if (!input.title) errors.title = "Give the task a title.";
  if (input.due_date && !/^\d{4}-\d{2}-\d{2}$/.test(input.due_date)) {
    errors.due_date = "Use a date like 2026-03-05.";
  }
  return errors;
}

export const PRIORITY_LABEL: Record<Priority, string> = { low: "Low", medium: "Medium", high: "High" };
export const STATUS_LABEL: Record<StatusFilter, string> = { all: "All", pending: "Open", completed: "Done" };
