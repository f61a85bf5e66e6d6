"use client";

import { useEffect, useId, useRef } from "react";
import { TaskForm } from "./TaskForm";
import type { FieldErrors } from "@/lib/errors";
import { PRIORITY_LABEL, describeDue } from "@/lib/tasks";
import type { Task, TaskInput } from "@/lib/types";

export interface TaskItemProps {
  task: Task;
  today: string;
  editing: boolean;
  onToggle: (task: Task) => void;
  onEdit: (task: Task) => void;
  onCancelEdit: () => void;
  onSave: (task: Task, input: TaskInput) => Promise<FieldErrors | null>;
  onDelete: (task: Task) => void;
}

export function TaskItem({ task, today, editing, onToggle, onEdit, onCancelEdit, onSave, onDelete }: TaskItemProps) {
  const uid = useId();
  const due = describeDue(task.due_date, task.completed, today);
  const titleId = `${uid}-title`;
  const editButton = useRef<HTMLButtonElement>(null);
  const wasEditing = useRef(editing);

  // Leaving the edit form (save, cancel, Escape) puts keyboard focus back on "Edit".
  useEffect(() => {
    if (wasEditing.current && !editing) editButton.current?.focus();
    wasEditing.current = editing;
  }, [editing]);

  if (editing) {
    return (
      <li className="task task--editing" data-task-id={String(task.id)}>
        <TaskForm
          task={task}
          label={`Edit task ${task.title}`}
          submitLabel="Save"
          onSubmit={(input) => onSave(task, input)}
          onCancel={onCancelEdit}
        />
      </li>
    );
  }

  return (
    <li
      className={`task${task.completed ? " task--done" : ""}`}
      data-task-id={String(task.id)}
      aria-labelledby={titleId}
    >
      <input
        type="checkbox"
        className="task__check"
        checked={task.completed}
        onChange={() => onToggle(task)}
        aria-label={task.completed ? `Mark "${task.title}" as not done` : `Mark "${task.title}" as done`}
      />
      <div className="task__body">
        <p className="task__title" id={titleId}>
          {task.title}
        </p>
        {task.description ? <p className="task__description">{task.description}</p> : null}
        <p className="task__meta">
          <span className={`badge badge--${task.priority}`}>
            <span className="visually-hidden">Priority: </span>
            {PRIORITY_LABEL[task.priority]}
          </span>
          {due ? (
            <span className={`due${due.overdue ? " due--overdue" : ""}${due.today ? " due--today" : ""}`}>
              {due.label}
              {due.overdue ? " · overdue" : ""}
            </span>
          ) : null}
        </p>
      </div>
      <div className="task__actions">
        <button
          ref={editButton}
          type="button"
          className="button button--small"
          onClick={() => onEdit(task)}
          aria-label={`Edit "${task.title}"`}
        >
          Edit
        </button>
        <button
          type="button"
          className="button button--small button--danger"
          onClick={() => onDelete(task)}
          aria-label={`Delete "${task.title}"`}
        >
          Delete
        </button>
      </div>
    </li>
  );
}
