// Talking to the station: bearer-token fetch, login/logout, and the live stream with
// automatic reconnection (exponential back-off, capped) that reports its state.

const TOKEN_KEY = "lamina.token";

export class ApiError extends Error {
  constructor(status, body) {
    super(typeof body?.message === "string" ? body.message
      : typeof body?.detail === "string" ? body.detail : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export const auth = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  set token(v) { v ? sessionStorage.setItem(TOKEN_KEY, v) : sessionStorage.removeItem(TOKEN_KEY); },
};

export async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = {};
  if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (raw && resp.ok) return resp;
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

export async function login(username, password) {
  const out = await api("/api/auth/token", { method: "POST", body: { username, password } });
  auth.token = out.access_token;
  return out;
}

export async function logout() {
  try { await api("/api/auth/logout", { method: "POST" }); } catch { /* token may be gone */ }
  auth.token = null;
}

// The live stream. onMessage(msg) for every message; onState(state, detail) with
// state "connecting" | "live" | "reconnecting" | "closed".
export class LiveStream {
  constructor(onMessage, onState) {
    this.onMessage = onMessage;
    this.onState = onState;
    this.delayMs = 500;
    this.stopped = false;
    this.ws = null;
  }

  start() { this.stopped = false; this.connect(); }

  stop() {
    this.stopped = true;
    if (this.ws) this.ws.close();
    clearTimeout(this.timer);
    this.onState("closed", "");
  }

  connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const url = `${proto}://${location.host}/api/stream?token=${encodeURIComponent(auth.token || "")}`;
    this.onState("connecting", "");
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => { this.delayMs = 500; };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg.type === "hello") this.onState("live", "");
      this.onMessage(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws || this.stopped) return;
      if (ev.code === 4401) { this.onState("closed", "session expired: log in again"); return; }
      const wait = this.delayMs;
      this.delayMs = Math.min(this.delayMs * 2, 5000);
      this.onState("reconnecting", `connection lost; reconnecting in ${(wait / 1000).toFixed(1)} s…`);
      this.timer = setTimeout(() => this.connect(), wait);
    };
  }
}
