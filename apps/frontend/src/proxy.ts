// Runs before every page render: gives the response a nonce-based Content-Security-Policy.
// Next.js reads the nonce from the request's CSP header and stamps it on the scripts it
// renders, so only this response's own scripts run.

import { NextResponse, type NextRequest } from "next/server";
import { contentSecurityPolicy, newNonce } from "@/lib/security-headers";

export function proxy(request: NextRequest) {
  const csp = contentSecurityPolicy(newNonce(), process.env.NODE_ENV === "development");
  const requestHeaders = new Headers(request.headers);
  requestHeaders.set("Content-Security-Policy", csp);
  const response = NextResponse.next({ request: { headers: requestHeaders } });
  response.headers.set("Content-Security-Policy", csp);
  return response;
}

export const config = {
  // Pages only: static chunks carry no markup, and /healthz is JSON for the kubelet
  // (both still get the headers from next.config.ts).
  matcher: ["/((?!_next/static|_next/image|healthz|favicon.ico).*)"],
};
