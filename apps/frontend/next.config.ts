import type { NextConfig } from "next";
import { STATIC_SECURITY_HEADERS } from "./src/lib/security-headers";

// One image serves every environment: nothing here depends on the environment at
// build time. API_BASE_URL is read by server code at request time (see src/lib/config.ts).
const nextConfig: NextConfig = {
  output: "standalone",
  poweredByHeader: false,
  // No image optimisation (the app ships no raster images), so the bundle can drop sharp
  // and libvips (~19 MB); see scripts/assemble-standalone.mjs.
  images: { unoptimized: true },
  reactStrictMode: true,
  // The repo root holds other apps; pin tracing to this app so the standalone
  // bundle lands at .next/standalone/server.js.
  outputFileTracingRoot: import.meta.dirname,
  turbopack: { root: import.meta.dirname },
  // On every response; the per-response CSP (it needs a nonce) comes from
  // src/standalone/csp.mjs, in front of Next's request handler.
  async headers() {
    return [{ source: "/:path*", headers: [...STATIC_SECURITY_HEADERS] }];
  },
};

export default nextConfig;
