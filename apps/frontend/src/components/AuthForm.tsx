"use client";

import Link from "next/link";
import { useId, useState, type FormEvent } from "react";
import { FieldError, errorProps } from "./FieldError";
import type { Api } from "@/lib/api";
import { browserApi } from "@/lib/browser-api";
import { ApiError, MESSAGES, type FieldErrors } from "@/lib/errors";
import { safeNext } from "@/lib/navigation";

export interface AuthFormProps {
  mode: "signin" | "signup";
  /** Where to go after signing in (a same-site path). */
  next?: string;
  /** A note shown above the form, e.g. "Your session has expired". */
  notice?: string;
  api?: Pick<Api, "login" | "register">;
  /** Injected by tests; the browser does a full navigation so the server renders with the new cookie. */
  navigate?: (path: string) => void;
}

const MIN_PASSWORD = 8;

export function AuthForm({ mode, next, notice, api: injected, navigate }: AuthFormProps) {
  const uid = useId();
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);
  const signup = mode === "signup";
  const err = (field: string) => `${uid}-${field}-error`;

  async function handleSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const api = injected ?? browserApi();
    const form = new FormData(event.currentTarget);
    const email = String(form.get("email") ?? "").trim();
    const password = String(form.get("password") ?? "");
    const name = String(form.get("name") ?? "").trim();

    const local: FieldErrors = {};
    if (!email) local.email = "Enter your email address.";
    else if (!/^\S+@\S+\.\S+$/.test(email)) local.email = "Enter an email address like name@example.com.";
    if (!password) local.password = "Enter your password.";
    else if (signup && password.length < MIN_PASSWORD) local.password = `Use at least ${MIN_PASSWORD} characters.`;
    if (Object.keys(local).length) {
      setErrors(local);
      return;
    }

    setBusy(true);
    setErrors({});
    try {
      if (signup) await api.register(name ? { email, password, name } : { email, password });
      await api.login({ email, password });
      (navigate ?? ((path: string) => window.location.assign(path)))(safeNext(next));
    } catch (error) {
      setBusy(false);
      if (error instanceof ApiError) {
        const fields = { ...error.fieldErrors };
        const known = ["email", "password", "name"].some((f) => f in fields);
        setErrors(known ? fields : { _form: error.message });
      } else {
        setErrors({ _form: MESSAGES.generic });
      }
    }
  }

  return (
    <main className="auth">
      <div className="panel auth__panel">
        <p className="brand brand--large">Todo</p>
        <h1>{signup ? "Create your account" : "Sign in"}</h1>
        {notice ? (
          <p className="notice" role="status">
            {notice}
          </p>
        ) : null}
        <form onSubmit={handleSubmit} noValidate aria-label={signup ? "Sign up" : "Sign in"}>
          {signup ? (
            <div className="field">
              <label htmlFor={`${uid}-name`}>
                Name <span className="optional">(optional)</span>
              </label>
              <input id={`${uid}-name`} name="name" type="text" autoComplete="name" maxLength={100} {...errorProps(err("name"), errors.name)} />
              <FieldError id={err("name")} message={errors.name} />
            </div>
          ) : null}
          <div className="field">
            <label htmlFor={`${uid}-email`}>Email</label>
            <input
              id={`${uid}-email`}
              name="email"
              type="email"
              autoComplete="email"
              maxLength={254}
              required
              autoFocus
              {...errorProps(err("email"), errors.email)}
            />
            <FieldError id={err("email")} message={errors.email} />
          </div>
          <div className="field">
            <label htmlFor={`${uid}-password`}>Password</label>
            <input
              id={`${uid}-password`}
              name="password"
              type="password"
              autoComplete={signup ? "new-password" : "current-password"}
              maxLength={128}
              required
              minLength={signup ? MIN_PASSWORD : undefined}
              {...errorProps(err("password"), errors.password)}
              aria-describedby={errors.password ? err("password") : signup ? `${uid}-password-hint` : undefined}
            />
            {signup && !errors.password ? (
              <p id={`${uid}-password-hint`} className="hint">
                At least {MIN_PASSWORD} characters.
              </p>
            ) : null}
            <FieldError id={err("password")} message={errors.password} />
          </div>
          {errors._form ? (
            <p className="form-error" role="alert">
              {errors._form}
            </p>
          ) : null}
          <button type="submit" className="button button--primary button--block" disabled={busy}>
            {busy ? (signup ? "Creating account…" : "Signing in…") : signup ? "Create account" : "Sign in"}
          </button>
        </form>
        <p className="auth__switch">
          {signup ? (
            <>
              Already have an account? <Link href={next && next !== "/" ? `/signin?next=${encodeURIComponent(next)}` : "/signin"}>Sign in</Link>
            </>
          ) : (
            <>
              New here? <Link href={next && next !== "/" ? `/signup?next=${encodeURIComponent(next)}` : "/signup"}>Create an account</Link>
            </>
          )}
        </p>
      </div>
    </main>
  );
}
