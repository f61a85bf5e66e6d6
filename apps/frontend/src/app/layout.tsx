import type { Metadata, Viewport } from "next";
import "./globals.css";

// Every page is rendered per request, so each one carries its own CSP nonce (a page
// prerendered at build time would have scripts without it, and the browser would block them).
export const dynamic = "force-dynamic";

export const metadata: Metadata = {
  title: "Todo",
  description: "Your tasks, with an assistant.",
};

export const viewport: Viewport = {
  width: "device-width",
  initialScale: 1,
  themeColor: "#f6f7f9",
};

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
