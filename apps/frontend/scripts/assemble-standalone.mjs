// Makes .next/standalone self-contained: Next leaves the browser assets (.next/static)
// and public/ outside it. After this, `node .next/standalone/server.js` serves everything
// (used by the e2e tests, the bench and the Dockerfile, so all three run the same bundle).
// server.js is then src/standalone/server.mjs, which adds the page CSP and runs Next's own
// generated server, kept as next-server.js.
import { copyFileSync, cpSync, existsSync, readFileSync, renameSync, rmSync } from "node:fs";

const standalone = ".next/standalone";
if (!existsSync(`${standalone}/server.js`)) {
  console.error("assemble-standalone: .next/standalone/server.js missing; is output: 'standalone' set?");
  process.exit(1);
}
const entry = "src/standalone/server.mjs";
// Run twice on one build, server.js is already ours: keep Next's next-server.js as it is.
if (readFileSync(`${standalone}/server.js`, "utf8") !== readFileSync(entry, "utf8")) {
  renameSync(`${standalone}/server.js`, `${standalone}/next-server.js`);
}
copyFileSync(entry, `${standalone}/server.js`);
copyFileSync("src/standalone/csp.mjs", `${standalone}/csp.mjs`);
cpSync(".next/static", `${standalone}/.next/static`, { recursive: true });
if (existsSync("public")) cpSync("public", `${standalone}/public`, { recursive: true });
// Image optimisation is off (next.config.ts), so nothing loads sharp: leave it and libvips out.
for (const unused of ["node_modules/sharp", "node_modules/@img"]) {
  rmSync(`${standalone}/${unused}`, { recursive: true, force: true });
}
console.log("assemble-standalone: server.js with the CSP in front of Next's, .next/static copied in, sharp dropped");
