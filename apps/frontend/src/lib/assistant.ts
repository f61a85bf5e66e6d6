// Makes the assistant's actions ({type: "created"|"updated"|"deleted", task}) readable.

export interface ActionSummary {
  verb: string;
  title: string | null;
  /** Whether the task is done after the change (null when unknown or deleted). */
  done: boolean | null;
}

const VERBS: Record<string, string> = { created: "Added", updated: "Updated", deleted: "Deleted" };

/** Reads an action defensively (any object): a reply from an older or newer backend is
 * rendered as far as it is understood. */
export function summarizeAction(action: Readonly<Record<string, unknown>>): ActionSummary {
  const type = typeof action.type === "string" ? action.type : "";
  const task = action.task && typeof action.task === "object" ? (action.task as Record<string, unknown>) : null;
  const title = task && typeof task.title === "string" ? task.title : null;
  const done = type !== "deleted" && task && typeof task.completed === "boolean" ? task.completed : null;
  return { verb: VERBS[type] ?? "Changed", title, done };
}

/** Every action the backend reports changed a task, so any action means: refresh the list. */
export function changesTasks(actions: readonly unknown[]): boolean {
  return actions.length > 0;
}
