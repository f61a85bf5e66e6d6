// @vitest-environment node
// api.ts is generated from openapi.json (`make api-types`); this fails when it is stale. The
// backend's tests/test_openapi_contract.py holds openapi.json to the app's document.
import { readFileSync } from "node:fs";
import openapiTS, { astToString, COMMENT_HEADER } from "openapi-typescript";
import { expect, it } from "vitest";

const here = new URL(".", import.meta.url);

it("api.ts is what openapi-typescript makes of openapi.json", async () => {
  const document = readFileSync(new URL("openapi.json", here), "utf8");
  const generated = COMMENT_HEADER + astToString(await openapiTS(document, { silent: true }));
  expect(readFileSync(new URL("api.ts", here), "utf8"), "stale: run make api-types").toBe(generated);
});
