import { describe, expect, it } from "vitest";
import { safeNext, signInUrl } from "./navigation";

describe("navigation", () => {
  it("only follows same-site next paths", () => {
    expect(safeNext("/?q=a")).toBe("/?q=a");
    expect(safeNext("//evil.example")).toBe("/");
    expect(safeNext("/\\evil.example")).toBe("/");
    expect(safeNext("https://evil.example")).toBe("/");
    expect(safeNext(undefined)).toBe("/");
  });

  it("builds sign-in URLs that lead back", () => {
    expect(signInUrl(null, "/")).toBe("/signin");
    expect(signInUrl("expired", "/?status=pending")).toBe("/signin?reason=expired&next=%2F%3Fstatus%3Dpending");
    expect(signInUrl(null, "//evil")).toBe("/signin");
  });
});
