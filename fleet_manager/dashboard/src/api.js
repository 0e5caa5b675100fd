// The Fleet API client: every call carries the operator's key as a Bearer token and times out.

import { SseParser } from "./sse.js";

const REQUEST_TIMEOUT_MS = 15000;
const STREAM_RETRY_MIN_MS = 1000;
const STREAM_RETRY_MAX_MS = 15000;
// The server sends a keep-alive comment well within this; silence longer than this means a dead link.
const STREAM_IDLE_TIMEOUT_MS = 45000;

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

/** The list inside a listing response, whether the API wraps it ({items: [...]}) or not. */
export function itemsOf(body) {
  if (Array.isArray(body)) return body;
  if (body && typeof body === "object") {
    for (const field of ["items", "data", "results", "orders", "vehicles", "missions", "features"]) {
      if (Array.isArray(body[field])) return body[field];
    }
  }
  return [];
}

function errorMessage(status, body) {
  const detail = body && typeof body === "object" ? body.detail ?? body.message ?? body.title : body;
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
  }
  return `${status} ${typeof detail === "string" && detail ? detail : "request failed"}`;
}

export class FleetApi {
  constructor({ baseUrl = "", key }) {
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.key = key;
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.key}`, Accept: "application/json", ...extra };
  }

  async request(method, path, body) {
    const init = { method, headers: this.headers(), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(this.baseUrl + path, init);
    const text = await response.text();
    let parsed = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // a non-JSON body (proxy error page) is reported as text
    }
    if (!response.ok) throw new ApiError(response.status, errorMessage(response.status, parsed), parsed);
    return parsed;
  }

  get(path) {
    return this.request("GET", path);
  }

  post(path, body = {}) {
    return this.request("POST", path, body);
  }

  delete(path) {
    return this.request("DELETE", path);
  }

  /**
   * Follow the event stream until `signal` aborts: calls onEvent({id, type, data}) for each event and
   * onStatus("live" | "reconnecting" | "unauthorized", detail) as the link changes. Reconnects with
   * Last-Event-ID and a growing back-off, so no event is lost across a dropped connection.
   */
  async followEvents(path, { onEvent, onStatus, signal }) {
    let lastEventId = null;
    let retryMs = STREAM_RETRY_MIN_MS;
    while (!signal.aborted) {
      const idle = new AbortController();
      const stop = () => idle.abort();
      signal.addEventListener("abort", stop, { once: true });
      let idleTimer = setTimeout(stop, STREAM_IDLE_TIMEOUT_MS);
      try {
        const headers = this.headers({ Accept: "text/event-stream" });
        if (lastEventId) headers["Last-Event-ID"] = lastEventId;
        const response = await fetch(this.baseUrl + path, { headers, signal: idle.signal, cache: "no-store" });
        if (response.status === 401 || response.status === 403) {
          onStatus("unauthorized", `${response.status}`);
          return;
        }
        if (!response.ok || !response.body) throw new Error(`event stream answered ${response.status}`);
        onStatus("live", "");
        retryMs = STREAM_RETRY_MIN_MS;
        const parser = new SseParser();
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          clearTimeout(idleTimer);
          idleTimer = setTimeout(stop, STREAM_IDLE_TIMEOUT_MS);
          for (const event of parser.push(value)) {
            if (event.id) lastEventId = event.id;
            onEvent(event);
          }
        }
      } catch (error) {
        if (signal.aborted) return;
        onStatus("reconnecting", String(error.message || error));
      } finally {
        clearTimeout(idleTimer);
        signal.removeEventListener("abort", stop);
      }
      if (signal.aborted) return;
      onStatus("reconnecting", `retrying in ${Math.round(retryMs / 1000)} s`);
      await new Promise((resolve) => setTimeout(resolve, retryMs));
      retryMs = Math.min(retryMs * 2, STREAM_RETRY_MAX_MS);
    }
  }
}
