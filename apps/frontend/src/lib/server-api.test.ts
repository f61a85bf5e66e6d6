import { describe, expect, it, vi } from "vitest";

vi.mock("next/headers", () => ({ headers: async () => new Headers() }));

const { hasSessionCookie } = await import("./server-api");

describe("hasSessionCookie", () => {
  it("finds the backend's session cookie among others", () => {
    expect(hasSessionCookie("theme=dark; todo_session=abc.def")).toBe(true);
    expect(hasSessionCookie("todo_session=x")).toBe(true);
    expect(hasSessionCookie("not_todo_session=x; other=1")).toBe(false);
    expect(hasSessionCookie("")).toBe(false);
  });
});
