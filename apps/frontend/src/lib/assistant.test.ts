import { describe, expect, it } from "vitest";
import { changesTasks, summarizeAction } from "./assistant";

describe("summarizeAction", () => {
  it("reads the backend's {type, task} actions", () => {
    expect(summarizeAction({ type: "created", task: { title: "Call Bob", completed: false } })).toEqual({
      verb: "Added",
      title: "Call Bob",
      done: false,
    });
    expect(summarizeAction({ type: "updated", task: { title: "Call Bob", completed: true } }).done).toBe(true);
    expect(summarizeAction({ type: "deleted", task: { title: "Old", completed: true } })).toEqual({
      verb: "Deleted",
      title: "Old",
      done: null,
    });
  });

  it("survives shapes it does not know", () => {
    expect(summarizeAction({ weird: 1 })).toEqual({ verb: "Changed", title: null, done: null });
  });

  it("refreshes the list only when something changed", () => {
    expect(changesTasks([])).toBe(false);
    expect(changesTasks([{ type: "created", task: {} }])).toBe(true);
  });
});
