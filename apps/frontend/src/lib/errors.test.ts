import { describe, expect, it } from "vitest";
import { MESSAGES, errorFromResponse, fieldErrorsFromDetail, tidyMessage } from "./errors";

describe("fieldErrorsFromDetail", () => {
  it("maps FastAPI 422 items to their fields, first message wins", () => {
    const detail = [
      { loc: ["body", "title"], msg: "String should have at least 1 character", type: "string_too_short" },
      { loc: ["body", "title"], msg: "second", type: "x" },
      { loc: ["body", "due_date"], msg: "Input should be a valid date", type: "date_parsing" },
    ];
    expect(fieldErrorsFromDetail(detail)).toEqual({
      title: "String should have at least 1 character",
      due_date: "Input should be a valid date",
    });
  });

  it("puts errors without a field under _form and ignores junk", () => {
    expect(fieldErrorsFromDetail([{ loc: ["body"], msg: "Field required" }, null, 3])).toEqual({ _form: "Field required" });
    expect(fieldErrorsFromDetail("nope")).toEqual({});
  });
});

describe("tidyMessage", () => {
  it("gives validator fragments a subject and drops pydantic's prefix", () => {
    expect(tidyMessage("email", "Value error, is not a valid email address")).toBe("Email is not a valid email address");
    expect(tidyMessage("title", "Value error, cannot be null")).toBe("Title cannot be null");
    expect(tidyMessage("password", "String should have at least 8 characters")).toBe("String should have at least 8 characters");
  });
});

describe("errorFromResponse", () => {
  it("classifies statuses into actionable kinds", () => {
    expect(errorFromResponse(401, { detail: "Not authenticated" }).kind).toBe("unauthorized");
    const v = errorFromResponse(422, { detail: [{ loc: ["body", "title"], msg: "Field required" }] });
    expect(v.kind).toBe("validation");
    expect(v.fieldErrors).toEqual({ title: "Field required" });
    expect(errorFromResponse(404, { detail: "Task not found" }).message).toBe("Task not found");
    expect(errorFromResponse(500, undefined).message).toBe(MESSAGES.generic);
  });

  it("tells a backend explaining itself from a proxy saying the backend is down", () => {
    const db = errorFromResponse(503, { detail: "The database is unavailable right now. Try again in a moment." });
    expect(db.kind).toBe("unavailable");
    expect(db.message).toMatch(/database is unavailable/);
    const proxy = errorFromResponse(502, undefined);
    expect(proxy.kind).toBe("unavailable");
    expect(proxy.message).toBe(MESSAGES.unavailable);
  });
});
