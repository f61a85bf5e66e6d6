import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { AuthForm } from "./AuthForm";
import { ApiError } from "@/lib/errors";

function fakeAuth() {
  return {
    register: vi.fn(async (input: { email: string; password: string; name?: string }) => ({ id: 1, email: input.email })),
    login: vi.fn(async (input: { email: string; password: string }) => ({
      access_token: "t",
      token_type: "bearer",
      user: { id: 1, email: input.email },
    })),
  };
}

describe("AuthForm", () => {
  it("signs up, signs in and goes to the requested page", async () => {
    const api = fakeAuth();
    const navigate = vi.fn();
    render(<AuthForm mode="signup" next="/?status=pending" api={api} navigate={navigate} />);
    const u = userEvent.setup();
    await u.type(screen.getByLabelText(/Name/), "Ada");
    await u.type(screen.getByLabelText("Email"), "ada@example.com");
    await u.type(screen.getByLabelText("Password"), "correct horse");
    await u.click(screen.getByRole("button", { name: "Create account" }));
    await waitFor(() => expect(navigate).toHaveBeenCalledWith("/?status=pending"));
    expect(api.register).toHaveBeenCalledWith({ email: "ada@example.com", password: "correct horse", name: "Ada" });
    expect(api.login).toHaveBeenCalledWith({ email: "ada@example.com", password: "correct horse" });
  });

  it("goes to / after sign-in when next would leave the origin (TAB is stripped by browsers)", async () => {
    const api = fakeAuth();
    const navigate = vi.fn();
    render(<AuthForm mode="signin" next={"/\t/evil.example"} api={api} navigate={navigate} />);
    const u = userEvent.setup();
    await u.type(screen.getByLabelText("Email"), "ada@example.com");
    await u.type(screen.getByLabelText("Password"), "correct horse");
    await u.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(navigate).toHaveBeenCalledWith("/"));
  });

  it("checks the fields before asking the server", async () => {
    const api = fakeAuth();
    render(<AuthForm mode="signup" api={api} navigate={vi.fn()} />);
    const u = userEvent.setup();
    await u.type(screen.getByLabelText("Email"), "not-an-email");
    await u.type(screen.getByLabelText("Password"), "short");
    await u.click(screen.getByRole("button", { name: "Create account" }));
    expect(screen.getByText(/Enter an email address like/)).toBeTruthy();
    expect(screen.getByText("Use at least 8 characters.")).toBeTruthy();
    expect(screen.getByLabelText("Password").getAttribute("aria-invalid")).toBe("true");
    expect(api.register).not.toHaveBeenCalled();
  });

  it("shows the server's answer where it belongs", async () => {
    const api = fakeAuth();
    api.register.mockRejectedValueOnce(
      new ApiError("conflict", "exists", 409, { email: "An account with this email already exists." }),
    );
    api.login.mockRejectedValueOnce(new ApiError("unauthorized", "Email or password is incorrect.", 401));
    const { unmount } = render(<AuthForm mode="signup" api={api} navigate={vi.fn()} />);
    const u = userEvent.setup();
    await u.type(screen.getByLabelText("Email"), "ada@example.com");
    await u.type(screen.getByLabelText("Password"), "correct horse");
    await u.click(screen.getByRole("button", { name: "Create account" }));
    expect(await screen.findByText("An account with this email already exists.")).toBeTruthy();
    unmount();

    render(<AuthForm mode="signin" api={api} navigate={vi.fn()} notice="Your session has expired. Please sign in again." />);
    expect(screen.getByRole("status").textContent).toMatch(/session has expired/);
    await u.type(screen.getByLabelText("Email"), "ada@example.com");
    await u.type(screen.getByLabelText("Password"), "wrong");
    await u.click(screen.getByRole("button", { name: "Sign in" }));
    expect((await screen.findByRole("alert")).textContent).toBe("Email or password is incorrect.");
  });
});
