import { redirect } from "next/navigation";
import { TaskApp } from "@/components/TaskApp";
import { BackendUnavailable } from "@/components/BackendUnavailable";
import { ApiError } from "@/lib/errors";
import { serverApi } from "@/lib/server-api";
import { loadTaskData } from "@/lib/task-data";
import { filtersFromParams, filtersToSearch, localToday } from "@/lib/tasks";

// Rendered per request: it reads the visitor's cookie and the backend's current data.
export const dynamic = "force-dynamic";

type SearchParams = Promise<Record<string, string | string[] | undefined>>;

export default async function TaskPage({ searchParams }: { searchParams: SearchParams }) {
  const filters = filtersFromParams(await searchParams);
  const { api, hasCookie } = await serverApi();
  const back = "/" + filtersToSearch(filters);
  const signIn = back === "/" ? "/signin" : `/signin?next=${encodeURIComponent(back)}`;
  if (!hasCookie) redirect(signIn);

  let loaded;
  try {
    const [user, data] = await Promise.all([api.me(), loadTaskData(api, filters)]);
    loaded = { user, data };
  } catch (error) {
    if (error instanceof ApiError && error.kind === "unauthorized") redirect(signIn);
    return <BackendUnavailable detail={error instanceof ApiError ? error.message : undefined} />;
  }
  return <TaskApp user={loaded.user} initialFilters={filters} initialData={loaded.data} today={localToday()} />;
}
