import { describe, expect, it } from "vitest";
import { safeNext, signInUrl } from "./navigation";

describe("safeNext", () => {
  it("keeps paths on this origin as they are", () => {
    expect(safeNext("/")).toBe("/");
    expect(safeNext("/?q=a")).toBe("/?q=a");
    expect(safeNext("/?status=pending&q=milk%20and%20bread")).toBe("/?status=pending&q=milk%20and%20bread");
    expect(safeNext("/signup#top")).toBe("/signup#top");
    expect(safeNext("/?q=50%25")).toBe("/?q=50%25");
  });

  it("refuses other origins, however they are spelled", () => {
    const bypasses = [
      "//evil.example",
      "https://evil.example",
      "http:evil.example",
      "javascript:alert(1)",
      "evil.example",
      " //evil.example",
      // Browsers strip TAB/CR/LF: each of these turns into "//evil.example".
      "/\t/evil.example",
      "/\n/evil.example",
      "/\r/evil.example",
      "/%09/evil.example",
      "/%0a/evil.example",
      "/%0D/evil.example",
      "/%2509/evil.example",
      // Browsers read "\" as "/".
      "/\\evil.example",
      "/\\/evil.example",
      "/%5Cevil.example",
      "/%5c%5cevil.example",
      "/%255Cevil.example",
      // Other control characters.
      "/\u0000/evil.example",
      "/%00/evil.example",
      "/%7F",
      "/%1F",
      // Dot segments that normalise into a network path.
      "/.//evil.example",
      "/a/..//evil.example",
    ];
    for (const next of bypasses) expect(safeNext(next), JSON.stringify(next)).toBe("/");
  });

  it("falls back to / without a value", () => {
    expect(safeNext(undefined)).toBe("/");
    expect(safeNext(null)).toBe("/");
    expect(safeNext("")).toBe("/");
  });
});

describe("signInUrl", () => {
  it("builds sign-in URLs that lead back, only to this origin", () => {
    expect(signInUrl(null, "/")).toBe("/signin");
    expect(signInUrl("expired", "/?status=pending")).toBe("/signin?reason=expired&next=%2F%3Fstatus%3Dpending");
    expect(signInUrl(null, "//evil")).toBe("/signin");
    expect(signInUrl(null, "/\t/evil.example")).toBe("/signin");
  });
});
