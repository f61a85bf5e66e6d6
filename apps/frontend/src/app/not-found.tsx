import Link from "next/link";

export default function NotFound() {
  return (
    <main className="auth">
      <div className="panel auth__panel">
        <p className="brand brand--large">Todo</p>
        <h1>Page not found</h1>
        <p>
          <Link href="/">Go to your tasks</Link>
        </p>
      </div>
    </main>
  );
}
