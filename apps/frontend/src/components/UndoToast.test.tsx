import { act, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { UndoToast } from "./UndoToast";

describe("UndoToast", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("goes away by itself, but not while someone is on it", () => {
    const onDismiss = vi.fn();
    const onUndo = vi.fn();
    render(<UndoToast message='Deleted "A".' onUndo={onUndo} onDismiss={onDismiss} timeoutMs={1000} />);
    const undo = screen.getByRole("button", { name: "Undo" });
    fireEvent.focus(undo);
    act(() => vi.advanceTimersByTime(5000));
    expect(onDismiss).not.toHaveBeenCalled();
    fireEvent.blur(undo);
    act(() => vi.advanceTimersByTime(1000));
    expect(onDismiss).toHaveBeenCalledTimes(1);
    fireEvent.click(undo);
    expect(onUndo).toHaveBeenCalledTimes(1);
  });
});
