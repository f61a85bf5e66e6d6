// Loads what the task page shows: one page of the filtered list plus the open/done counts.
// The server renders with one backend request (loadFirstPage); the browser fills in what
// that leaves out and does every later refresh (loadTaskData), so both agree.

import type { Api } from "./api";
import { PAGE_SIZE, countTasks, isUnfiltered } from "./tasks";
import type { TaskCounts, TaskFilters, TaskPage } from "./types";

export interface TaskData {
  page: TaskPage;
  counts: TaskCounts;
}

/** The first page; counts only when that page already holds every task (null: ask later). */
export interface FirstPage {
  page: TaskPage;
  counts: TaskCounts | null;
}

const listPage = (api: Api, filters: TaskFilters) => api.listTasks({ ...filters, limit: PAGE_SIZE });

/** One request: what the server needs to render the page (and to learn the session is valid). */
export async function loadFirstPage(api: Api, filters: TaskFilters): Promise<FirstPage> {
  const page = await listPage(api, filters);
  // The unfiltered first page usually holds every task: count locally, no extra requests.
  const complete = isUnfiltered(filters) && page.total <= page.items.length;
  return { page, counts: complete ? countTasks(page.items) : null };
}

export async function loadTaskData(api: Api, filters: TaskFilters): Promise<TaskData> {
  if (isUnfiltered(filters)) {
    const first = await loadFirstPage(api, filters);
    return { page: first.page, counts: first.counts ?? (await loadCounts(api)) };
  }
  const [page, counts] = await Promise.all([listPage(api, filters), loadCounts(api)]);
  return { page, counts };
}

export async function loadCounts(api: Api): Promise<TaskCounts> {
  const [open, done] = await Promise.all([
    api.listTasks({ status: "pending", limit: 1 }),
    api.listTasks({ status: "completed", limit: 1 }),
  ]);
  return { open: open.total, done: done.total };
}
