import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { AuthForm } from "@/components/AuthForm";
import { safeNext } from "@/lib/navigation";
import { serverApi } from "@/lib/server-api";

export const metadata: Metadata = { title: "Sign in · Todo" };
export const dynamic = "force-dynamic";

type SearchParams = Promise<Record<string, string | string[] | undefined>>;

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

export default async function SignInPage({ searchParams }: { searchParams: SearchParams }) {
  const params = await searchParams;
  const next = safeNext(one(params.next));
  const { api, hasCookie } = await serverApi();
  if (hasCookie && one(params.reason) !== "expired") {
    // Already signed in? Go straight to the tasks. Any failure just shows the form.
    const signedIn = await api.me().then(
      () => true,
      () => false,
    );
    if (signedIn) redirect(next);
  }
  const notice = one(params.reason) === "expired" ? "Your session has expired. Please sign in again." : undefined;
  return <AuthForm mode="signin" next={next} notice={notice} />;
}
