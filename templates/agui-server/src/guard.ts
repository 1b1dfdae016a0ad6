/**
 * Who may use this server: the Host and Origin checks that keep web pages out.
 *
 * Loopback is not a boundary. Any page open in the developer's browser can send requests to
 * 127.0.0.1, and through DNS rebinding (a name of the page's own that resolves to 127.0.0.1) read
 * the answers. So, before a request's body is read or any work starts:
 *
 * - `Host` must name this machine: `localhost`, `127.0.0.1`, `[::1]` (any port), the address
 *   the server binds (`HOST`, unless it is every interface), or a name listed in
 *   `AGUI_ALLOWED_HOSTS`. A rebound page's requests carry the page's own name.
 * - A request carrying `Origin` (browsers add it to cross-origin requests) is served only for a
 *   loopback origin on any port (`http://localhost:5173`, a frontend dev server) or an origin
 *   listed in `AGUI_ALLOWED_ORIGINS`. Loopback names only, never "any IP address" (that was
 *   webpack-dev-server's CVE-2025-30360). `Origin: null` (sandboxed frames, files) is foreign.
 * - Requests without `Origin` (curl, other servers, agui-dev itself) pass that check.
 *
 * `*` in either variable turns that check off, for a server that really serves the public web.
 *
 * This file is the same, byte for byte, in templates/agui-server/src/guard.ts and
 * templates/mcp-server/src/guard.ts: each template is its own npm package (`agui-dev init` copies
 * one without the other), so they cannot import one copy. tests/edges.rs checks they stay equal.
 */

export interface GuardSettings {
  /** The address the server binds (`HOST`). */
  bindHost: string;
  /** Extra `Host` names, comma-separated (`AGUI_ALLOWED_HOSTS`); `*` turns the check off. */
  allowedHosts: string | undefined;
  /** Extra origins, comma-separated, exact (`AGUI_ALLOWED_ORIGINS`); `*` allows any. */
  allowedOrigins: string | undefined;
}

export type Verdict =
  /** `origin`: the one to echo in CORS headers; undefined when the request carries none. */
  | { allowed: true; origin: string | undefined }
  | { allowed: false; error: string; hint: string };

export interface Guard {
  check(host: string | undefined, origin: string | undefined): Verdict;
  /** One line for the start-up log: what is accepted. */
  summary: string;
}

/** A variable that cannot be read: the server refuses to start rather than guess. */
export class GuardConfigError extends Error {}

export const HOSTS_VARIABLE = "AGUI_ALLOWED_HOSTS";
export const ORIGINS_VARIABLE = "AGUI_ALLOWED_ORIGINS";

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"];
const EVERY_INTERFACE = new Set(["0.0.0.0", "::", "[::]"]);
/** Browsers serialize an origin as scheme://host[:port], lowercase, no path. */
const LOOPBACK_ORIGIN = /^https?:\/\/(?:localhost|127\.0\.0\.1|\[::1\])(?::\d{1,5})?$/;
const PORT_SUFFIX = /^:\d{1,5}$/;

/** The name in a `Host` value (`name`, `name:port`, `[v6]:port`), lowercase; undefined if malformed. */
export function hostName(value: string): string | undefined {
  let name: string;
  let rest: string;
  if (value.startsWith("[")) {
    const end = value.indexOf("]");
    if (end < 0) return undefined;
    name = value.slice(0, end + 1);
    rest = value.slice(end + 1);
  } else {
    const colon = value.indexOf(":");
    name = colon < 0 ? value : value.slice(0, colon);
    rest = colon < 0 ? "" : value.slice(colon);
  }
  if (name === "" || (rest !== "" && !PORT_SUFFIX.test(rest))) return undefined;
  return name.toLowerCase();
}

function list(raw: string | undefined): string[] {
  return (raw ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

function readHosts(raw: string | undefined, bindHost: string): Set<string> | null {
  const names = new Set(LOOPBACK_NAMES);
  for (const item of list(raw)) {
    if (item === "*") return null;
    const name = hostName(item);
    if (!name) {
      throw new GuardConfigError(
        `${HOSTS_VARIABLE}: ${JSON.stringify(item)} is not a host name (write names like \`mcp\` or \`app.example\`, comma-separated)`,
      );
    }
    names.add(name);
  }
  const bound = bindHost.trim().toLowerCase();
  if (bound && !EVERY_INTERFACE.has(bound)) names.add(bound.includes(":") && !bound.startsWith("[") ? `[${bound}]` : bound);
  return names;
}

function readOrigins(raw: string | undefined): Set<string> | null {
  const origins = new Set<string>();
  for (const item of list(raw)) {
    if (item === "*") return null;
    let url: URL | undefined;
    try {
      url = new URL(item);
    } catch {
      url = undefined;
    }
    const pathless = url && (url.pathname === "/" || url.pathname === "") && !url.search && !url.hash;
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || !pathless) {
      throw new GuardConfigError(
        `${ORIGINS_VARIABLE}: ${JSON.stringify(item)} is not an origin (write scheme://host[:port] like \`https://app.example\`, comma-separated)`,
      );
    }
    origins.add(url.origin);
  }
  return origins;
}

export function createGuard(settings: GuardSettings): Guard {
  const hosts = readHosts(settings.allowedHosts, settings.bindHost);
  const origins = readOrigins(settings.allowedOrigins);

  function check(host: string | undefined, origin: string | undefined): Verdict {
    if (hosts) {
      const name = host === undefined ? undefined : hostName(host);
      if (name === undefined || !hosts.has(name)) {
        return {
          allowed: false,
          error: `forbidden: Host ${JSON.stringify(host ?? "")} does not name this server (DNS-rebinding protection)`,
          hint: `to serve this name, add it to ${HOSTS_VARIABLE} (comma-separated; "*" turns the check off)`,
        };
      }
    }
    if (origin === undefined || origins === null || LOOPBACK_ORIGIN.test(origin) || origins.has(origin)) {
      return { allowed: true, origin };
    }
    return {
      allowed: false,
      error: `forbidden: Origin ${JSON.stringify(origin)} is not allowed (only loopback origins are, by default)`,
      hint: `to serve pages from it, add the exact origin to ${ORIGINS_VARIABLE} (comma-separated; "*" allows any)`,
    };
  }

  const summary =
    `hosts ${hosts ? [...hosts].join(",") : "any (" + HOSTS_VARIABLE + "=*)"}; ` +
    `origins ${origins === null ? "any (" + ORIGINS_VARIABLE + "=*)" : ["loopback", ...origins].join(",")}`;
  return { check, summary };
}

/**
 * True the first time a refusal's text comes (up to `limit` distinct ones), so the log names each
 * refused Host or Origin once and a page retrying in a loop cannot flood it.
 */
export function firstSight(limit = 100): (key: string) => boolean {
  const seen = new Set<string>();
  return (key) => {
    if (seen.has(key) || seen.size >= limit) return false;
    seen.add(key);
    return true;
  };
}
