import { describe, expect, it } from "vitest";
import { apiBaseUrl } from "./config";

describe("apiBaseUrl", () => {
  it("reads API_BASE_URL at call time and drops trailing slashes", () => {
    expect(apiBaseUrl({ API_BASE_URL: "http://todo-backend:8000/" })).toBe("http://todo-backend:8000");
    expect(apiBaseUrl({ API_BASE_URL: "  " })).toBe("http://127.0.0.1:8000");
    expect(apiBaseUrl({})).toBe("http://127.0.0.1:8000");
  });
});
