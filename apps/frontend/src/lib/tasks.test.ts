import { describe, expect, it } from "vitest";
import {
  countTasks,
  dateOnly,
  describeDue,
  filtersFromParams,
  filtersToSearch,
  isUnfiltered,
  localToday,
  matchesFilters,
  taskInputFromForm,
  taskQuery,
  validateTaskInput,
} from "./tasks";
import type { Task } from "./types";

const task = (over: Partial<Task> = {}): Task => ({
  id: 1,
  title: "Buy milk",
  description: "semi-skimmed",
  completed: false,
  priority: "medium",
  due_date: null,
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
  ...over,
});

describe("filters and URLs", () => {
  it("reads known values and drops unknown ones", () => {
    expect(filtersFromParams({ status: "completed", priority: "high", q: "milk" })).toEqual({
      status: "completed",
      priority: "high",
      q: "milk",
    });
    expect(filtersFromParams(new URLSearchParams("status=bogus&priority=urgent"))).toEqual({
      status: "all",
      priority: "",
      q: "",
    });
    expect(filtersFromParams({ status: ["pending", "completed"] }).status).toBe("pending");
  });

  it("round-trips through the address bar and omits defaults", () => {
    const f = { status: "pending", priority: "low", q: " milk " } as const;
    expect(filtersToSearch(f)).toBe("?status=pending&priority=low&q=milk");
    expect(filtersFromParams(new URLSearchParams(filtersToSearch(f).slice(1)))).toEqual({ ...f, q: "milk" });
    expect(filtersToSearch({ status: "all", priority: "", q: "  " })).toBe("");
  });

  it("builds the backend query", () => {
    expect(taskQuery({ status: "all", q: "", limit: 100 })).toBe("?limit=100");
    expect(taskQuery({ status: "completed", priority: "high", q: "a&b", limit: 1, offset: 100 })).toBe(
      "?status=completed&priority=high&q=a%26b&limit=1&offset=100",
    );
    expect(taskQuery({})).toBe("");
  });

  it("knows when nothing is filtered", () => {
    expect(isUnfiltered({ status: "all", priority: "", q: " " })).toBe(true);
    expect(isUnfiltered({ status: "all", priority: "", q: "x" })).toBe(false);
  });
});

describe("matchesFilters", () => {
  it("applies status, priority and case-insensitive search over title and description", () => {
    const t = task();
    expect(matchesFilters(t, { status: "pending", priority: "", q: "" })).toBe(true);
    expect(matchesFilters(t, { status: "completed", priority: "", q: "" })).toBe(false);
    expect(matchesFilters(t, { status: "all", priority: "high", q: "" })).toBe(false);
    expect(matchesFilters(t, { status: "all", priority: "", q: "SKIMMED" })).toBe(true);
    expect(matchesFilters(t, { status: "all", priority: "", q: "bread" })).toBe(false);
  });
});

describe("counts and dates", () => {
  it("counts open and done", () => {
    expect(countTasks([task(), task({ completed: true }), task()])).toEqual({ open: 2, done: 1 });
  });

  it("describes due dates without locale drift", () => {
    expect(dateOnly("2026-03-05T10:00:00Z")).toBe("2026-03-05");
    expect(dateOnly(null)).toBe("");
    expect(describeDue("2026-03-05", false, "2026-03-06")).toEqual({ label: "Due 5 Mar 2026", overdue: true, today: false });
    expect(describeDue("2026-03-05", true, "2026-03-06")?.overdue).toBe(false);
    expect(describeDue("2026-03-06", false, "2026-03-06")).toEqual({ label: "Due today", overdue: false, today: true });
    expect(describeDue(null, false, "2026-03-06")).toBeNull();
    expect(localToday(new Date(2026, 0, 9))).toBe("2026-01-09");
  });
});

describe("task form input", () => {
  it("trims, nulls empty optionals and defaults priority", () => {
    const form = new FormData();
    form.set("title", "  Call Bob ");
    form.set("description", "   ");
    form.set("priority", "urgent");
    form.set("due_date", "");
    expect(taskInputFromForm(form)).toEqual({ title: "Call Bob", description: null, priority: "medium", due_date: null });
  });

  it("validates what the browser can", () => {
    expect(validateTaskInput({ title: "", description: null, priority: "low", due_date: null })).toEqual({
      title: "Give the task a title.",
    });
    expect(validateTaskInput({ title: "x", description: null, priority: "low", due_date: "5/3/2026" })).toHaveProperty("due_date");
    expect(validateTaskInput({ title: "x", description: null, priority: "low", due_date: "2026-03-05" })).toEqual({});
  });
});
