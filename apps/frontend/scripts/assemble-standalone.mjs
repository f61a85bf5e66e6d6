// Makes .next/standalone self-contained: Next leaves the browser assets (.next/static)
// and public/ outside it. After this, `node .next/standalone/server.js` serves everything
// (used by the e2e tests, the bench and the Dockerfile, so all three run the same bundle).
import { cpSync, existsSync, rmSync } from "node:fs";

const standalone = ".next/standalone";
if (!existsSync(`${standalone}/server.js`)) {
  console.error("assemble-standalone: .next/standalone/server.js missing; is output: 'standalone' set?");
  process.exit(1);
}
cpSync(".next/static", `${standalone}/.next/static`, { recursive: true });
if (existsSync("public")) cpSync("public", `${standalone}/public`, { recursive: true });
// Image optimisation is off (next.config.ts), so nothing loads sharp: leave it and libvips out.
for (const unused of ["node_modules/sharp", "node_modules/@img"]) {
  rmSync(`${standalone}/${unused}`, { recursive: true, force: true });
}
console.log("assemble-standalone: copied .next/static into .next/standalone, dropped sharp");
