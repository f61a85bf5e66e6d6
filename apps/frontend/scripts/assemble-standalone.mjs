// Makes .next/standalone self-contained: Next leaves the browser assets (.next/static)
// and public/ outside it. After this, `node .next/standalone/server.js` serves everything
// (used by the e2e tests and the bench; the Dockerfile copies the same pieces).
import { cpSync, existsSync } from "node:fs";

const standalone = ".next/standalone";
if (!existsSync(`${standalone}/server.js`)) {
  console.error("assemble-standalone: .next/standalone/server.js missing; is output: 'standalone' set?");
  process.exit(1);
}
cpSync(".next/static", `${standalone}/.next/static`, { recursive: true });
if (existsSync("public")) cpSync("public", `${standalone}/public`, { recursive: true });
console.log("assemble-standalone: copied .next/static into .next/standalone");
