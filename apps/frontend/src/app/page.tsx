import { redirect } from "next/navigation";
import { TaskApp } from "@/components/TaskApp";
import { BackendUnavailable } from "@/components/BackendUnavailable";
import { ApiError } from "@/lib/errors";
import { signInUrl } from "@/lib/navigation";
import { serverApi } from "@/lib/server-api";
import { loadTaskData } from "@/lib/task-data";
import { filtersFromParams, filtersToSearch, localToday } from "@/lib/tasks";

// Rendered per request: it reads the visitor's cookie and the backend's current data.
export const dynamic = "force-dynamic";

type SearchParams = Promise<Record<string, string | string[] | undefined>>;

export default async function TaskPage({ searchParams }: { searchParams: SearchParams }) {
  const filters = filtersFromParams(await searchParams);
  const { api, hasCookie, hadSession } = await serverApi();
  const back = "/" + filtersToSearch(filters);
  if (!hasCookie) redirect(signInUrl(null, back));

  let loaded;
  try {
    const [user, data] = await Promise.all([api.me(), loadTaskData(api, filters)]);
    loaded = { user, data };
  } catch (error) {
    if (error instanceof ApiError && error.kind === "unauthorized") {
      redirect(signInUrl(hadSession ? "expired" : null, back));
    }
    // A network error here is the server's own link to the backend, not the visitor's.
    const detail = error instanceof ApiError && error.kind !== "network" ? error.message : undefined;
    return <BackendUnavailable detail={detail} />;
  }
  return <TaskApp user={loaded.user} initialFilters={filters} initialData={loaded.data} today={localToday()} />;
}
