"use client";

import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import { AssistantPanel } from "./AssistantPanel";
import { FilterBar } from "./FilterBar";
import { SignOutButton } from "./SignOutButton";
import { TaskForm } from "./TaskForm";
import { TaskItem } from "./TaskItem";
import { UndoToast } from "./UndoToast";
import type { Api } from "@/lib/api";
import { browserApi } from "@/lib/browser-api";
import { ApiError, MESSAGES, type FieldErrors } from "@/lib/errors";
import { loadCounts, loadTaskData, type FirstPage } from "@/lib/task-data";
import { DEFAULT_FILTERS, PAGE_SIZE, filtersToSearch, isUnfiltered, localToday, matchesFilters } from "@/lib/tasks";
import type { Task, TaskCounts, TaskFilters, TaskInput, User } from "@/lib/types";

export interface TaskAppProps {
  /** The signed-in person; fetched by the browser when the server leaves it out. */
  user?: User;
  initialFilters: TaskFilters;
  /** The server's first page; counts it left out (null) are fetched by the browser. */
  initialData: FirstPage;
  /** The server's date, used until the browser knows its own (keeps hydration stable). */
  today: string;
  /** Injected by tests; the browser uses same-origin /api. */
  api?: Api;
}

const FORM_FIELDS = ["title", "description", "priority", "due_date"];
const noSubscribe = () => () => {};

/** Turns a failed save into messages next to the fields, or one for the whole form. */
export function formErrorsFrom(error: unknown): FieldErrors {
  if (!(error instanceof ApiError)) return { _form: MESSAGES.generic };
  const known: FieldErrors = {};
  for (const [field, message] of Object.entries(error.fieldErrors)) {
    if (FORM_FIELDS.includes(field)) known[field] = message;
  }
  if (error.kind === "validation" && Object.keys(known).length) return known;
  return { _form: error.message };
}

function adjustCounts(counts: TaskCounts | null, before: Task | null, after: Task | null): TaskCounts | null {
  if (!counts) return null; // not known yet: the refresh after every change brings them
  const next = { ...counts };
  if (before) next[before.completed ? "done" : "open"] -= 1;
  if (after) next[after.completed ? "done" : "open"] += 1;
  return { open: Math.max(0, next.open), done: Math.max(0, next.done) };
}

export function TaskApp({ user: initialUser, initialFilters, initialData, today: serverToday, api: injected }: TaskAppProps) {
  const api = useMemo(() => injected ?? browserApi(), [injected]);
  const today = useSyncExternalStore(noSubscribe, () => localToday(), () => serverToday);
  const [filters, setFilters] = useState(initialFilters);
  const [items, setItems] = useState(initialData.page.items);
  const [total, setTotal] = useState(initialData.page.total);
  const [counts, setCounts] = useState<TaskCounts | null>(initialData.counts);
  const [user, setUser] = useState<User | null>(initialUser ?? null);
  const [editingId, setEditingId] = useState<Task["id"] | null>(null);
  const [banner, setBanner] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [deleted, setDeleted] = useState<Task | null>(null);
  const [announcement, setAnnouncement] = useState("");
  const filtersRef = useRef(filters);
  const requestSeq = useRef(0);
  const searchTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  useEffect(() => () => clearTimeout(searchTimer.current), []);

  const showError = useCallback((error: unknown) => {
    if (error instanceof ApiError && error.kind === "unauthorized") return; // already redirecting
    setBanner(error instanceof ApiError ? error.message : MESSAGES.generic);
  }, []);

  // What the server left out of its single request, fetched once the page is showing.
  useEffect(() => {
    let live = true;
    if (!initialUser) {
      api.me().then(
        (me) => live && setUser(me),
        (error: unknown) => live && showError(error),
      );
    }
    if (!initialData.counts) {
      loadCounts(api).then(
        (loaded) => live && setCounts((known) => known ?? loaded),
        (error: unknown) => live && showError(error),
      );
    }
    return () => {
      live = false;
    };
  }, [api, initialUser, initialData.counts, showError]);

  /** Re-reads the list and counts from the backend; the latest call wins. */
  const refresh = useCallback(
    async (f: TaskFilters = filtersRef.current) => {
      const seq = ++requestSeq.current;
      setLoading(true);
      try {
        const data = await loadTaskData(api, f);
        if (seq !== requestSeq.current) return;
        setItems(data.page.items);
        setTotal(data.page.total);
        setCounts(data.counts);
        setBanner(null);
      } catch (error) {
        if (seq === requestSeq.current) showError(error);
      } finally {
        if (seq === requestSeq.current) setLoading(false);
      }
    },
    [api, showError],
  );

  function applyFilters(next: TaskFilters, debounce = false) {
    setFilters(next);
    filtersRef.current = next;
    // Keep filters in the address bar so a reload (or a shared link) shows the same view.
    window.history.replaceState(window.history.state, "", window.location.pathname + filtersToSearch(next));
    clearTimeout(searchTimer.current);
    if (debounce) searchTimer.current = setTimeout(() => void refresh(next), 250);
    else void refresh(next);
  }

  async function addTask(input: TaskInput): Promise<FieldErrors | null> {
    try {
      const task = await api.createTask(input);
      const f = filtersRef.current;
      if (matchesFilters(task, f)) {
        setItems((prev) => [task, ...prev]);
        setTotal((t) => t + 1);
        setAnnouncement(`Added "${task.title}".`);
      } else {
        setAnnouncement(`Added "${task.title}". It is hidden by the current filters.`);
      }
      setCounts((c) => adjustCounts(c, null, task));
      void refresh();
      return null;
    } catch (error) {
      if (error instanceof ApiError && error.kind === "unauthorized") return null;
      return formErrorsFrom(error);
    }
  }

  function replaceLocally(before: Task, after: Task) {
    const f = filtersRef.current;
    setItems((prev) => prev.map((t) => (t.id === before.id ? after : t)).filter((t) => matchesFilters(t, f)));
    if (!matchesFilters(after, f)) setTotal((t) => Math.max(0, t - 1));
    setCounts((c) => adjustCounts(c, before, after));
  }

  /** Puts a task back into the visible list (newest first, like the backend's default order). */
  function restoreLocally(task: Task) {
    const f = filtersRef.current;
    if (!matchesFilters(task, f)) return;
    // `total` is left alone: the refresh that follows every failure sets it from the server.
    setItems((prev) => {
      const others = prev.filter((t) => t.id !== task.id);
      const at = others.findIndex((t) => t.created_at < task.created_at);
      return at < 0 ? [...others, task] : [...others.slice(0, at), task, ...others.slice(at)];
    });
  }

  async function toggleTask(task: Task) {
    const optimistic = { ...task, completed: !task.completed };
    replaceLocally(task, optimistic);
    setAnnouncement(optimistic.completed ? `Marked "${task.title}" done.` : `Marked "${task.title}" open.`);
    try {
      await api.updateTask(task.id, { completed: optimistic.completed });
      void refresh();
    } catch (error) {
      // Put back what the server still has, even if the refresh below cannot reach it.
      restoreLocally(task);
      setCounts((c) => adjustCounts(c, optimistic, task));
      showError(error);
      void refresh();
    }
  }

  async function saveTask(task: Task, input: TaskInput): Promise<FieldErrors | null> {
    try {
      const saved = await api.updateTask(task.id, input);
      replaceLocally(task, saved);
      setEditingId(null);
      setAnnouncement(`Saved "${saved.title}".`);
      void refresh();
      return null;
    } catch (error) {
      if (error instanceof ApiError && error.kind === "not_found") {
        setEditingId(null);
        showError(error);
        void refresh();
        return null;
      }
      if (error instanceof ApiError && error.kind === "unauthorized") return null;
      return formErrorsFrom(error);
    }
  }

  async function deleteTask(task: Task) {
    setItems((prev) => prev.filter((t) => t.id !== task.id));
    setTotal((t) => Math.max(0, t - 1));
    setCounts((c) => adjustCounts(c, task, null));
    try {
      await api.deleteTask(task.id);
      setDeleted(task);
      setAnnouncement(`Deleted "${task.title}".`);
      void refresh();
    } catch (error) {
      if (!(error instanceof ApiError && error.kind === "not_found")) {
        // Not deleted: show it again right away rather than pretend.
        restoreLocally(task);
        setCounts((c) => adjustCounts(c, null, task));
        showError(error);
      }
      void refresh();
    }
  }

  async function undoDelete() {
    const task = deleted;
    setDeleted(null);
    if (!task) return;
    try {
      // The backend has no restore: recreate the task with the same content.
      const restored = await api.createTask({
        title: task.title,
        description: task.description,
        priority: task.priority,
        due_date: task.due_date,
      });
      if (task.completed) await api.updateTask(restored.id, { completed: true });
      setAnnouncement(`Restored "${task.title}".`);
    } catch (error) {
      showError(error);
    }
    void refresh();
  }

  async function showMore() {
    try {
      const page = await api.listTasks({ ...filtersRef.current, limit: PAGE_SIZE, offset: items.length });
      setItems((prev) => {
        const seen = new Set(prev.map((t) => t.id));
        return [...prev, ...page.items.filter((t) => !seen.has(t.id))];
      });
      setTotal(page.total);
    } catch (error) {
      showError(error);
    }
  }

  const dismissUndo = useCallback(() => setDeleted(null), []);
  const onAssistantChange = useCallback(() => void refresh(), [refresh]);
  // Until the counts arrive, an empty filtered view means "nothing matches", not "no tasks".
  const hasAnyTask = counts ? counts.open + counts.done > 0 : total > 0 || !isUnfiltered(filters);

  return (
    <div className="app">
      <header className="topbar">
        <span className="brand">Todo</span>
        <span className="topbar__user" title={user?.email}>
          {user ? user.name || user.email : ""}
        </span>
        <SignOutButton api={api} />
      </header>
      <main className="layout">
        <section className="panel tasks" aria-labelledby="tasks-heading">
          <div className="tasks__head">
            <h1 id="tasks-heading">Your tasks</h1>
            <p className="counts" aria-label={counts ? `${counts.open} open, ${counts.done} done` : "Counting tasks"}>
              <span className="count count--open">
                <strong data-testid="count-open">{counts ? counts.open : "–"}</strong> open
              </span>
              <span className="count count--done">
                <strong data-testid="count-done">{counts ? counts.done : "–"}</strong> done
              </span>
            </p>
          </div>
          {banner ? (
            <div className="banner" role="alert">
              <span>{banner}</span>
              <button type="button" className="button button--small" onClick={() => void refresh()}>
                Try again
              </button>
            </div>
          ) : null}
          <TaskForm label="Add a task" submitLabel="Add task" onSubmit={addTask} />
          <FilterBar
            filters={filters}
            counts={counts}
            onStatus={(status) => applyFilters({ ...filtersRef.current, status })}
            onPriority={(priority) => applyFilters({ ...filtersRef.current, priority })}
            onSearch={(q) => applyFilters({ ...filtersRef.current, q }, true)}
          />
          {items.length ? (
            <ul className="task-list" aria-label="Tasks" aria-busy={loading}>
              {items.map((task) => (
                <TaskItem
                  key={String(task.id)}
                  task={task}
                  today={today}
                  editing={editingId === task.id}
                  onToggle={toggleTask}
                  onEdit={(t) => setEditingId(t.id)}
                  onCancelEdit={() => setEditingId(null)}
                  onSave={saveTask}
                  onDelete={deleteTask}
                />
              ))}
            </ul>
          ) : (
            <div className="empty" aria-busy={loading}>
              {!hasAnyTask ? (
                <p>No tasks yet. Add your first one above, or ask the assistant.</p>
              ) : isUnfiltered(filters) ? (
                <p>No tasks to show.</p>
              ) : (
                <>
                  <p>No tasks match these filters.</p>
                  <button type="button" className="button button--small" onClick={() => applyFilters(DEFAULT_FILTERS)}>
                    Clear filters
                  </button>
                </>
              )}
            </div>
          )}
          {items.length < total ? (
            <p className="more">
              Showing {items.length} of {total}.{" "}
              <button type="button" className="button button--small" onClick={() => void showMore()}>
                Show more
              </button>
            </p>
          ) : null}
        </section>
        <AssistantPanel api={api} onTasksChanged={onAssistantChange} />
      </main>
      {deleted ? (
        <UndoToast message={`Deleted "${deleted.title}".`} onUndo={() => void undoDelete()} onDismiss={dismissUndo} />
      ) : null}
      <p className="visually-hidden" role="status" aria-live="polite">
        {announcement}
      </p>
    </div>
  );
}
