"use client";

import { useEffect, useState } from "react";

export interface UndoToastProps {
  message: string;
  onUndo: () => void;
  onDismiss: () => void;
  /** How long the offer stays up. */
  timeoutMs?: number;
}

/**
 * "Task deleted — Undo". Not modal: focus stays where the person was working. The offer
 * stays up while the pointer or keyboard focus is on it, so nobody races the timer.
 */
export function UndoToast({ message, onUndo, onDismiss, timeoutMs = 8000 }: UndoToastProps) {
  const [held, setHeld] = useState(false);
  useEffect(() => {
    if (held) return;
    const timer = setTimeout(onDismiss, timeoutMs);
    return () => clearTimeout(timer);
  }, [message, onDismiss, timeoutMs, held]);

  return (
    <div
      className="toast"
      role="status"
      onMouseEnter={() => setHeld(true)}
      onMouseLeave={() => setHeld(false)}
      onFocus={() => setHeld(true)}
      onBlur={() => setHeld(false)}
    >
      <span>{message}</span>
      <button type="button" className="button button--small button--inverse" onClick={onUndo}>
        Undo
      </button>
      <button type="button" className="toast__close" onClick={onDismiss} aria-label="Dismiss">
        ×
      </button>
    </div>
  );
}
