"use client";

import { useState } from "react";
import type { Api } from "@/lib/api";

export function SignOutButton({ api }: { api: Pick<Api, "logout"> }) {
  const [busy, setBusy] = useState(false);
  async function signOut() {
    setBusy(true);
    try {
      await api.logout();
    } catch {
      // Even if the backend is unreachable, leave: the sign-in page says what is wrong.
    }
    // A full page load drops every bit of client state from this session.
    // eslint-disable-next-line @next/next/no-location-assign-relative-destination
    window.location.assign("/signin");
  }
  return (
    <button type="button" className="button button--small" onClick={signOut} disabled={busy}>
      {busy ? "Signing out…" : "Sign out"}
    </button>
  );
}
