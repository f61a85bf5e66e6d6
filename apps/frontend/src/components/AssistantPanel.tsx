"use client";

import { useId, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { ApiError, MESSAGES } from "@/lib/errors";
import { summarizeAction, changesTasks } from "@/lib/assistant";
import type { Api } from "@/lib/api";
import type { AssistantAction, AssistantReply } from "@/lib/types";

interface Message {
  id: number;
  role: "user" | "assistant" | "notice";
  text: string;
  actions?: AssistantAction[];
}

export interface AssistantPanelProps {
  api: Pick<Api, "chat">;
  /** Called after the assistant changed tasks, so the list can refresh. */
  onTasksChanged: () => void;
}

export function AssistantPanel({ api, onTasksChanged }: AssistantPanelProps) {
  const uid = useId();
  const [messages, setMessages] = useState<Message[]>([]);
  const [draft, setDraft] = useState("");
  const [busy, setBusy] = useState(false);
  const [notConfigured, setNotConfigured] = useState(false);
  const conversation = useRef<AssistantReply["conversation_id"]>(null);
  const nextId = useRef(1);
  const inputRef = useRef<HTMLTextAreaElement>(null);

  function push(message: Omit<Message, "id">) {
    const id = nextId.current++;
    setMessages((prev) => [...prev, { ...message, id }]);
  }

  async function send(event?: FormEvent) {
    event?.preventDefault();
    const text = draft.trim();
    if (!text || busy) return;
    push({ role: "user", text });
    setDraft("");
    setBusy(true);
    try {
      const reply = await api.chat(text, conversation.current);
      conversation.current = reply.conversation_id ?? conversation.current;
      const actions = Array.isArray(reply.actions) ? reply.actions : [];
      push({ role: "assistant", text: reply.reply || "Done.", actions });
      if (changesTasks(actions)) onTasksChanged();
    } catch (error) {
      if (error instanceof ApiError && error.kind === "not_configured") {
        setNotConfigured(true);
        push({ role: "notice", text: error.message });
      } else if (error instanceof ApiError && error.kind === "not_found") {
        // The conversation is gone (e.g. deleted server-side): start a fresh one.
        conversation.current = null;
        push({ role: "notice", text: "That conversation has ended. Send your message again to start a new one." });
        setDraft(text);
      } else if (error instanceof ApiError && error.kind === "unauthorized") {
        // browserApi is already sending the person to sign in.
      } else {
        push({ role: "notice", text: error instanceof ApiError ? error.message : MESSAGES.generic });
        setDraft(text); // keep what they typed so they can retry
      }
    } finally {
      setBusy(false);
      inputRef.current?.focus();
    }
  }

  function handleKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    // Enter sends; Shift+Enter makes a new line.
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      void send();
    }
  }

  return (
    <section className="panel assistant" aria-labelledby={`${uid}-heading`}>
      <h2 id={`${uid}-heading`}>Assistant</h2>
      {notConfigured ? null : (
        <p className="hint">Ask in plain words, e.g. “add call the dentist on Friday, high priority”.</p>
      )}
      <ol className="chat-log" aria-live="polite" aria-label="Conversation">
        {messages.map((m) => (
          <li key={m.id} className={`chat-message chat-message--${m.role}`}>
            <span className="visually-hidden">{m.role === "user" ? "You: " : m.role === "assistant" ? "Assistant: " : "Note: "}</span>
            <p className="chat-message__text">{m.text}</p>
            {m.actions && m.actions.length ? (
              <ul className="chat-actions" aria-label="Tasks changed">
                {m.actions.map((a, i) => {
                  const s = summarizeAction(a);
                  return (
                    <li key={i}>
                      <span className="chat-actions__verb">{s.verb}</span>
                      {s.title ? <> “{s.title}”</> : null}
                      {s.done ? <span className="chat-actions__state"> (done)</span> : null}
                    </li>
                  );
                })}
              </ul>
            ) : null}
          </li>
        ))}
        {busy ? (
          <li className="chat-message chat-message--pending" aria-label="Assistant is thinking">
            <p className="chat-message__text">Thinking…</p>
          </li>
        ) : null}
      </ol>
      <form className="chat-form" onSubmit={send}>
        <label htmlFor={`${uid}-message`} className="visually-hidden">
          Message to the assistant
        </label>
        <textarea
          id={`${uid}-message`}
          ref={inputRef}
          rows={2}
          value={draft}
          maxLength={2000}
          placeholder="Message the assistant"
          onChange={(e) => setDraft(e.target.value)}
          onKeyDown={handleKeyDown}
        />
        <button type="submit" className="button button--primary" disabled={busy || !draft.trim()}>
          Send
        </button>
      </form>
    </section>
  );
}
