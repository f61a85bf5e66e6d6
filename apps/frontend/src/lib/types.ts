// Shapes of the backend's JSON (docs/architecture.md, "The HTTP API").

export type Priority = "low" | "medium" | "high";
export const PRIORITIES: readonly Priority[] = ["low", "medium", "high"];

export type StatusFilter = "all" | "pending" | "completed";
export const STATUS_FILTERS: readonly StatusFilter[] = ["all", "pending", "completed"];

export interface User {
  id: number;
  email: string;
  name?: string | null;
}

export interface Task {
  id: number;
  title: string;
  description: string | null;
  completed: boolean;
  priority: Priority;
  due_date: string | null;
  created_at: string;
  updated_at: string;
}

export interface TaskPage {
  items: Task[];
  total: number;
}

export interface TaskCounts {
  open: number;
  done: number;
}

/** What the add/edit form sends. Empty optional fields are sent as null. */
export interface TaskInput {
  title: string;
  description: string | null;
  priority: Priority;
  due_date: string | null;
}

export type TaskPatch = Partial<TaskInput & { completed: boolean }>;

export interface TaskFilters {
  status: StatusFilter;
  priority: Priority | "";
  q: string;
}

export interface AssistantAction {
  // The backend decides the exact shape; the panel renders what it understands.
  [key: string]: unknown;
}

export interface AssistantReply {
  conversation_id: string | null;
  reply: string;
  actions: AssistantAction[];
}
