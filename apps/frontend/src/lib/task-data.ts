// Loads what the task page shows: one page of the filtered list plus the open/done counts.
// Shared by the server render and the browser's refreshes so both agree.

import type { Api } from "./api";
import { PAGE_SIZE, countTasks, isUnfiltered } from "./tasks";
import type { TaskCounts, TaskFilters, TaskPage } from "./types";

export interface TaskData {
  page: TaskPage;
  counts: TaskCounts;
}

export async function loadTaskData(api: Api, filters: TaskFilters): Promise<TaskData> {
  const list = api.listTasks({ ...filters, limit: PAGE_SIZE });
  if (isUnfiltered(filters)) {
    const page = await list;
    // The unfiltered first page usually holds every task: count locally, save two requests.
    if (page.total <= page.items.length) return { page, counts: countTasks(page.items) };
    return { page, counts: await loadCounts(api) };
  }
  const [page, counts] = await Promise.all([list, loadCounts(api)]);
  return { page, counts };
}

export async function loadCounts(api: Api): Promise<TaskCounts> {
  const [open, done] = await Promise.all([
    api.listTasks({ status: "pending", limit: 1 }),
    api.listTasks({ status: "completed", limit: 1 }),
  ]);
  return { open: open.total, done: done.total };
}
