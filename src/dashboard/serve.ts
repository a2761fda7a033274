// The dashboard's HTTP side: GET / is the page, /dashboard/* its static assets (plain ES modules
// and CSS shipped in the package, no build step, no CDN), /dashboard/auth a token check. The
// page and assets hold nothing of the agent, so they need no token; everything the page shows
// comes over the control channel, which does. The Host check (DNS rebinding) and the Origin
// check of the agent's server apply to these routes like to every other.
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RouteHandler, RouteMatcher, RouteOptions } from "../agent/server.js";

/** The files served under /dashboard/ (nothing else is: no path ever reaches the filesystem). */
const ASSETS: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "rpc.js": "text/javascript; charset=utf-8",
  "chart.js": "text/javascript; charset=utf-8",
  "view.js": "text/javascript; charset=utf-8",
  "format.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
  "favicon.svg": "image/svg+xml",
};

/** The page may load only its own files and talk only to its own origin; it cannot be framed. */
const HEADERS = {
  "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-cache",
};

/**
 * Where the assets are: src/dashboard/assets beside this module when run from source, or the
 * same folder of the package when run from dist/src/dashboard (package.json `files` ships it).
 */
export function assetsDir(): string {
  const candidates = [new URL("./assets/", import.meta.url), new URL("../../../src/dashboard/assets/", import.meta.url)];
  for (const c of candidates) if (existsSync(new URL("index.html", c))) return fileURLToPath(c);
  return fileURLToPath(candidates[candidates.length - 1]!);
}

export interface DashboardHost {
  addRoute(match: RouteMatcher, handler: RouteHandler, options?: RouteOptions): void;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + "\n";
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

/** Mounts GET / and /dashboard/* on the agent's port. */
export function mountDashboard(host: DashboardHost, dir = assetsDir()): void {
  const cache = new Map<string, Buffer>();
  const serve = async (req: IncomingMessage, res: ServerResponse, file: string): Promise<void> => {
    if (req.method !== "GET" && req.method !== "HEAD") return sendJson(res, 405, { error: `use GET for the dashboard, not ${req.method}` });
    let body = cache.get(file);
    if (!body) {
      try {
        body = await readFile(`${dir}/${file}`);
      } catch (err) {
        return sendJson(res, 500, { error: `dashboard asset ${file} is missing from ${dir} (${(err as NodeJS.ErrnoException).code ?? String(err)})` });
      }
      cache.set(file, body);
    }
    res.writeHead(200, { ...HEADERS, "Content-Type": ASSETS[file]!, "Content-Length": body.length });
    res.end(req.method === "HEAD" ? undefined : body);
  };
  // the page checks a token here (fetch can send Authorization; a WebSocket cannot tell why it failed)
  host.addRoute("/dashboard/auth", (_req, res) => {
    res.writeHead(204, { "Cache-Control": "no-store" });
    res.end();
  });
  host.addRoute(
    (_req, url) => url.pathname === "/" || url.pathname === "/favicon.ico" || url.pathname.startsWith("/dashboard/"),
    (req, res, url) => {
      if (url.pathname === "/") return serve(req, res, "index.html");
      if (url.pathname === "/favicon.ico") return serve(req, res, "favicon.svg");
      const file = url.pathname.slice("/dashboard/".length);
      if (!Object.hasOwn(ASSETS, file)) return sendJson(res, 404, { error: `no such dashboard file: ${url.pathname}` });
      return serve(req, res, file);
    },
    { auth: false },
  );
}
