import { redirect } from "next/navigation";
import { TaskApp } from "@/components/TaskApp";
import { BackendUnavailable } from "@/components/BackendUnavailable";
import { ApiError } from "@/lib/errors";
import { signInUrl } from "@/lib/navigation";
import { serverApi } from "@/lib/server-api";
import { loadFirstPage, type FirstPage } from "@/lib/task-data";
import { filtersFromParams, filtersToSearch, localToday } from "@/lib/tasks";

// Rendered per request: it reads the visitor's cookie and the backend's current data.
export const dynamic = "force-dynamic";

type SearchParams = Promise<Record<string, string | string[] | undefined>>;

export default async function TaskPage({ searchParams }: { searchParams: SearchParams }) {
  const filters = filtersFromParams(await searchParams);
  const { api, hasCookie, hadSession } = await serverApi();
  const back = "/" + filtersToSearch(filters);
  if (!hasCookie) redirect(signInUrl(null, back));

  // One backend request per render: the list (which also proves the session). The person's
  // name and, on a filtered view, the open/done counts are fetched by the browser once the
  // page is showing (TaskApp), so they never hold up the first byte.
  let first: FirstPage;
  try {
    first = await loadFirstPage(api, filters);
  } catch (error) {
    if (error instanceof ApiError && error.kind === "unauthorized") {
      redirect(signInUrl(hadSession ? "expired" : null, back));
    }
    // A network error here is the server's own link to the backend, not the visitor's.
    const detail = error instanceof ApiError && error.kind !== "network" ? error.message : undefined;
    return <BackendUnavailable detail={detail} />;
  }
  return <TaskApp initialFilters={filters} initialData={first} today={localToday()} />;
}
