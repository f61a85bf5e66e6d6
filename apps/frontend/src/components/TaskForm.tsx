"use client";

import { useId, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { FieldError, errorProps } from "./FieldError";
import type { FieldErrors } from "@/lib/errors";
import { PRIORITY_LABEL, dateOnly, taskInputFromForm, validateTaskInput } from "@/lib/tasks";
import { PRIORITIES, type Task, type TaskInput } from "@/lib/types";

export interface TaskFormProps {
  /** Present when editing. */
  task?: Task;
  submitLabel: string;
  /** Resolves to field errors to show, or null when saved. */
  onSubmit: (input: TaskInput) => Promise<FieldErrors | null>;
  onCancel?: () => void;
  /** Heading/label text for the form landmark. */
  label: string;
}

export function TaskForm({ task, submitLabel, onSubmit, onCancel, label }: TaskFormProps) {
  const uid = useId();
  const formRef = useRef<HTMLFormElement>(null);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);
  const ids = {
    title: `${uid}-title`,
    description: `${uid}-description`,
    priority: `${uid}-priority`,
    due: `${uid}-due`,
  };
  const err = (field: string) => `${uid}-${field}-error`;

  async function handleSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const input = taskInputFromForm(new FormData(form));
    const local = validateTaskInput(input);
    if (Object.keys(local).length) {
      setErrors(local);
      focusFirstError(form, local);
      return;
    }
    setBusy(true);
    try {
      const result = await onSubmit(input);
      if (result && Object.keys(result).length) {
        setErrors(result);
        focusFirstError(form, result);
        return;
      }
      setErrors({});
      if (!task) {
        form.reset();
        (form.elements.namedItem("title") as HTMLInputElement | null)?.focus();
      }
    } finally {
      setBusy(false);
    }
  }

  function handleKeyDown(event: KeyboardEvent<HTMLFormElement>) {
    if (event.key === "Escape" && onCancel) {
      event.preventDefault();
      onCancel();
    }
  }

  const formError = errors._form;
  return (
    <form
      ref={formRef}
      className={task ? "task-form task-form--edit" : "task-form"}
      aria-label={label}
      onSubmit={handleSubmit}
      onKeyDown={handleKeyDown}
      noValidate
    >
      <div className="field field--title">
        <label htmlFor={ids.title}>Title</label>
        <input
          id={ids.title}
          name="title"
          type="text"
          required
          maxLength={200}
          autoComplete="off"
          defaultValue={task?.title ?? ""}
          placeholder={task ? undefined : "What needs doing?"}
          autoFocus={Boolean(task)}
          {...errorProps(err("title"), errors.title)}
        />
        <FieldError id={err("title")} message={errors.title} />
      </div>
      <div className="field field--description">
        <label htmlFor={ids.description}>
          Description <span className="optional">(optional)</span>
        </label>
        <textarea
          id={ids.description}
          name="description"
          rows={2}
          maxLength={2000}
          defaultValue={task?.description ?? ""}
          {...errorProps(err("description"), errors.description)}
        />
        <FieldError id={err("description")} message={errors.description} />
      </div>
      <div className="field-row">
        <div className="field">
          <label htmlFor={ids.priority}>Priority</label>
          <select
            id={ids.priority}
            name="priority"
            defaultValue={task?.priority ?? "medium"}
            {...errorProps(err("priority"), errors.priority)}
          >
            {PRIORITIES.map((p) => (
              <option key={p} value={p}>
                {PRIORITY_LABEL[p]}
              </option>
            ))}
          </select>
          <FieldError id={err("priority")} message={errors.priority} />
        </div>
        <div className="field">
          <label htmlFor={ids.due}>
            Due date <span className="optional">(optional)</span>
          </label>
          <input
            id={ids.due}
            name="due_date"
            type="date"
            defaultValue={dateOnly(task?.due_date)}
            {...errorProps(err("due_date"), errors.due_date)}
          />
          <FieldError id={err("due_date")} message={errors.due_date} />
        </div>
        <div className="form-actions">
          <button type="submit" className="button button--primary" disabled={busy}>
            {busy ? "Saving…" : submitLabel}
          </button>
          {onCancel ? (
            <button type="button" className="button" onClick={onCancel}>
              Cancel
            </button>
          ) : null}
        </div>
      </div>
      {formError ? (
        <p className="form-error" role="alert">
          {formError}
        </p>
      ) : null}
    </form>
  );
}

function focusFirstError(form: HTMLFormElement, errors: FieldErrors) {
  for (const name of ["title", "description", "priority", "due_date"]) {
    if (errors[name]) {
      (form.elements.namedItem(name) as HTMLElement | null)?.focus();
      return;
    }
  }
}
