// Shapes of the backend's JSON: derived from the types generated from its OpenAPI document
// (src/generated/api.ts, `make api-types`), so a change to the API shows up here in tsc.
// Only the frontend's own shapes (filters, counts, form input) are written by hand.

import type { components, operations } from "@/generated/api";

type Schemas = components["schemas"];

export type Task = Schemas["TaskPublic"];
export type TaskPage = Schemas["TaskPage"];
export type Priority = Task["priority"];
export type StatusFilter = NonNullable<
  NonNullable<operations["list_tasks_api_v1_tasks_get"]["parameters"]["query"]>["status"]
>;

// Record<Union, …> needs every member: a value the backend adds fails tsc until listed here.
const PRIORITY_ORDER: Record<Priority, number> = { low: 0, medium: 1, high: 2 };
const STATUS_ORDER: Record<StatusFilter, number> = { all: 0, pending: 1, completed: 2 };
const ordered = <T extends string>(order: Record<T, number>): readonly T[] =>
  (Object.keys(order) as T[]).sort((a, b) => order[a] - order[b]);
export const PRIORITIES: readonly Priority[] = ordered(PRIORITY_ORDER);
export const STATUS_FILTERS: readonly StatusFilter[] = ordered(STATUS_ORDER);

/** The signed-in user, as far as the UI reads it. */
export type User = Pick<Schemas["UserPublic"], "id" | "email"> & Partial<Pick<Schemas["UserPublic"], "name">>;

export interface TaskCounts {
  open: number;
  done: number;
}

/** What the add/edit form sends (the create body, every field given). Empty optional
 * fields are sent as null. */
export type TaskInput = Required<Schemas["TaskCreate"]>;

export type TaskPatch = Schemas["TaskUpdate"];

export interface TaskFilters {
  status: StatusFilter;
  priority: Priority | "";
  q: string;
}

export type AssistantAction = Schemas["AssistantAction"];

/** The chat answer; conversation_id is null before the first one (the panel keeps it). */
export type AssistantReply = Omit<Schemas["ChatResponse"], "conversation_id"> & {
  conversation_id: string | null;
};
