// Makes the assistant's actions ({type: "created"|"updated"|"deleted", task}) readable.

import type { AssistantAction } from "./types";

export interface ActionSummary {
  verb: string;
  title: string | null;
  /** Whether the task is done after the change (null when unknown or deleted). */
  done: boolean | null;
}

const VERBS: Record<string, string> = { created: "Added", updated: "Updated", deleted: "Deleted" };

export function summarizeAction(action: AssistantAction): ActionSummary {
  const type = typeof action.type === "string" ? action.type : "";
  const task = action.task && typeof action.task === "object" ? (action.task as Record<string, unknown>) : null;
  const title = task && typeof task.title === "string" ? task.title : null;
  const done = type !== "deleted" && task && typeof task.completed === "boolean" ? task.completed : null;
  return { verb: VERBS[type] ?? "Changed", title, done };
}

/** Every action the backend reports changed a task, so any action means: refresh the list. */
export function changesTasks(actions: readonly AssistantAction[]): boolean {
  return actions.length > 0;
}
