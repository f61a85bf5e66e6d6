"use client";

// Last-resort boundary: something unexpected broke while rendering.
export default function ErrorPage({ reset }: { error: Error; reset: () => void }) {
  return (
    <main className="auth">
      <div className="panel auth__panel" role="alert">
        <p className="brand brand--large">Todo</p>
        <h1>Something went wrong</h1>
        <p>The page hit an unexpected problem. Try again; if it keeps happening, reload the page.</p>
        <button type="button" className="button button--primary" onClick={reset}>
          Try again
        </button>
      </div>
    </main>
  );
}
