// The control channel from the browser: JSON-RPC 2.0 over the same-origin WebSocket /control.
// A browser cannot set Authorization on a WebSocket, so a token travels as a second offered
// subprotocol "netimpair.bearer.BASE64URL(token)" beside "netimpair" (the one the agent picks
// and echoes back; the token is never echoed, never in the URL).

export class RpcError extends Error {
  constructor(error) {
    // the agent's message already names a single bad field: the list is added only when it says more
    const said = String(error.message);
    const fields = Array.isArray(error.data) ? error.data.filter((f) => !said.includes(String(f.message))).map((f) => `${String(f.path).replace(/^params\./, "")}: ${f.message}`).join("; ") : "";
    super(fields ? `${said} (${fields})` : said);
    this.code = error.code;
    this.data = error.data;
  }
}

function base64url(text) {
  const bin = Array.from(new TextEncoder().encode(text), (b) => String.fromCharCode(b)).join("");
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export class ControlChannel {
  /** Opens ws(s)://<this page's host>/control; resolves once open, rejects if it cannot open. */
  static open(token, handlers) {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/control`;
    const protocols = token ? ["netimpair", `netimpair.bearer.${base64url(token)}`] : ["netimpair"];
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols);
      let opened = false;
      ws.addEventListener("open", () => {
        opened = true;
        resolve(new ControlChannel(ws, handlers));
      });
      ws.addEventListener("close", () => {
        if (!opened) reject(new Error("the control channel did not open"));
      });
    });
  }

  constructor(ws, handlers) {
    this.ws = ws;
    this.nextId = 1;
    this.pending = new Map();
    this.closed = false;
    ws.addEventListener("message", (e) => this.onMessage(e.data));
    ws.addEventListener("close", () => {
      this.closed = true;
      for (const p of this.pending.values()) p.reject(new Error("the control channel closed"));
      this.pending.clear();
      handlers.onClose();
    });
    this.onEvent = handlers.onEvent;
  }

  /** Calls a method; resolves with its result, rejects with an RpcError. */
  call(method, params) {
    if (this.closed) return Promise.reject(new Error("the control channel is closed"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, ...(params ? { params } : {}) }));
    });
  }

  close() {
    this.ws.close();
  }

  onMessage(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    for (const m of Array.isArray(msg) ? msg : [msg]) {
      if (m.method === "event" && m.params) {
        this.onEvent(m.params);
        continue;
      }
      const p = this.pending.get(m.id);
      if (!p) continue;
      this.pending.delete(m.id);
      if (m.error) p.reject(new RpcError(m.error));
      else p.resolve(m.result);
    }
  }
}
