"use client";

import { useEffect } from "react";

export interface UndoToastProps {
  message: string;
  onUndo: () => void;
  onDismiss: () => void;
  /** How long the offer stays up. */
  timeoutMs?: number;
}

/** "Task deleted — Undo". Not modal: focus stays where the person was working. */
export function UndoToast({ message, onUndo, onDismiss, timeoutMs = 8000 }: UndoToastProps) {
  useEffect(() => {
    const timer = setTimeout(onDismiss, timeoutMs);
    return () => clearTimeout(timer);
  }, [message, onDismiss, timeoutMs]);

  return (
    <div className="toast" role="status">
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
