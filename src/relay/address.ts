// HOST:PORT addresses as the CLI, config and control channel write them ("[::1]:80" for IPv6).

export interface HostPort {
  host: string;
  port: number;
}

/** Parses "HOST:PORT", "[V6]:PORT" or ":PORT" (all interfaces). Returns an error string when bad. */
export function parseHostPort(value: string): HostPort | string {
  if (typeof value !== "string" || value.length === 0) return `expected HOST:PORT, got ${JSON.stringify(value)}`;
  let host: string;
  let portText: string;
  if (value.startsWith("[")) {
    const end = value.indexOf("]");
    if (end < 0 || value[end + 1] !== ":") return `expected [IPV6]:PORT, got ${JSON.stringify(value)}`;
    host = value.slice(1, end);
    portText = value.slice(end + 2);
  } else {
    const colon = value.lastIndexOf(":");
    if (colon < 0) return `expected HOST:PORT, got ${JSON.stringify(value)}`;
    host = value.slice(0, colon);
    portText = value.slice(colon + 1);
    if (host.includes(":")) return `IPv6 hosts must be bracketed ([::1]:PORT), got ${JSON.stringify(value)}`;
  }
  if (!/^\d{1,5}$/.test(portText)) return `port must be a number 0-65535, got ${JSON.stringify(portText)} in ${JSON.stringify(value)}`;
  const port = Number(portText);
  if (port > 65535) return `port must be 0-65535, got ${port} in ${JSON.stringify(value)}`;
  if (host === "") host = "0.0.0.0";
  return { host, port };
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** True for loopback hosts (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host) || host === "::ffff:127.0.0.1";
}
