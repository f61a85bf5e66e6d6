/** Shown when the server could not load the task page from the backend. */
export function BackendUnavailable({ detail }: { detail?: string }) {
  return (
    <main className="auth">
      <div className="panel auth__panel" role="alert">
        <p className="brand brand--large">Todo</p>
        <h1>Can’t load your tasks</h1>
        <p>{detail ?? "The task service isn’t answering right now."}</p>
        <p>Your tasks are safe. Wait a moment, then try again.</p>
        {/* A plain link: a full reload asks the server again. */}
        <a className="button button--primary" href="">
          Try again
        </a>
      </div>
    </main>
  );
}
