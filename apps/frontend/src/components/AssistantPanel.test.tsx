import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { AssistantPanel } from "./AssistantPanel";
import { createApi } from "@/lib/api";
import { fakeBackend } from "@/test/fake-backend";

describe("AssistantPanel", () => {
  it("shows the reply and the tasks it changed, then asks for a refresh", async () => {
    const backend = fakeBackend();
    backend.chatReply = {
      reply: "Added it for Friday.",
      actions: [{ type: "created", task: { id: 3, title: "Call the dentist", completed: false } }],
    };
    const onTasksChanged = vi.fn();
    render(<AssistantPanel api={createApi({ fetch: backend.fetch })} onTasksChanged={onTasksChanged} />);
    const u = userEvent.setup();
    await u.type(screen.getByLabelText("Message to the assistant"), "add call the dentist friday{Enter}");
    expect(await screen.findByText("Added it for Friday.")).toBeTruthy();
    expect(screen.getByRole("list", { name: "Tasks changed" }).textContent).toMatch(/Added “Call the dentist”/);
    expect(onTasksChanged).toHaveBeenCalledTimes(1);
    expect(backend.calls[0].body).toEqual({ message: "add call the dentist friday" });

    await u.type(screen.getByLabelText("Message to the assistant"), "thanks{Enter}");
    await waitFor(() => expect(backend.calls).toHaveLength(2));
    expect(backend.calls[1].body).toMatchObject({ conversation_id: "c0ffee00-0000-4000-8000-000000000000" });
  });

  it("says plainly that the assistant is not configured", async () => {
    const backend = fakeBackend(); // no chatReply: answers 503 not configured
    const onTasksChanged = vi.fn();
    render(<AssistantPanel api={createApi({ fetch: backend.fetch })} onTasksChanged={onTasksChanged} />);
    const u = userEvent.setup();
    await u.type(screen.getByLabelText("Message to the assistant"), "hello");
    await u.click(screen.getByRole("button", { name: "Send" }));
    expect(await screen.findByText(/The assistant is not configured on this server/)).toBeTruthy();
    expect(onTasksChanged).not.toHaveBeenCalled();
  });

  it("keeps the message when the server is unreachable so it can be sent again", async () => {
    const backend = fakeBackend();
    backend.failNext("/api/v1/assistant", "network");
    render(<AssistantPanel api={createApi({ fetch: backend.fetch })} onTasksChanged={() => {}} />);
    const u = userEvent.setup();
    await u.type(screen.getByLabelText("Message to the assistant"), "hello{Enter}");
    expect(await screen.findByText(/Can't reach the server/)).toBeTruthy();
    expect((screen.getByLabelText("Message to the assistant") as HTMLTextAreaElement).value).toBe("hello");
  });
});
