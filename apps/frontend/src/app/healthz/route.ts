// Liveness for the kubelet: answers from this process only, never calls the backend,
// so a backend outage does not restart healthy frontend pods.
export const dynamic = "force-dynamic";

export function GET() {
  return Response.json({ status: "ok" }, { headers: { "Cache-Control": "no-store" } });
}
