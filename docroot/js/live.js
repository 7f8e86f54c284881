// The live channel (/bridge/ws) for the demo pages: commands, subscriptions, view streams.
//
// Small and dependency-free. One LiveChannel per page; it reconnects on its own (with
// back-off) and renews its subscriptions and streams when it does. Frames are acknowledged
// only after the page has drawn them, so the server never sends faster than the page shows.
// Wire format: see adapters/http/ws_protocol.py and adapters/http/ws_streams.py.

const RECONNECT_DELAYS_MS = [250, 500, 1000, 2000, 5000];

/** The /bridge/ws URL next to this page, keeping a ?token= the page was opened with. */
export function channelUrl(path = "bridge/ws") {
  const url = new URL(path, document.baseURI);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const token = new URLSearchParams(location.search).get("token");
  if (token) url.searchParams.set("token", token);
  return url.href;
}

/** A binary frame: 4-byte big-endian header length, JSON header, image bytes. */
export function parseFrame(buffer) {
  const length = new DataView(buffer).getUint32(0, false);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, length)));
  const type = header.format === "jpeg" ? "image/jpeg" : "image/png";
  return { header, image: new Blob([new Uint8Array(buffer, 4 + length)], { type }) };
}

export class LiveChannel {
  constructor({ url = channelUrl(), onStatus = () => {} } = {}) {
    this.url = url;
    this.onStatus = onStatus;
    this.socket = null;
    this.nextId = 1;
    this.pending = new Map(); // command id → {resolve, reject, sentAt}
    this.subscriptions = []; // {subjects, options, onState}
    this.streams = new Map(); // "view:red" → {options, onFrame}
    this.stateHandlers = [];
    this.closed = false;
    this.attempt = 0;
    this.connected = false;
    this.sentAt = new Map(); // command id → performance.now() when sent (latency)
  }

  connect() {
    this.closed = false;
    const socket = new WebSocket(this.url);
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      this.connected = true;
      this.onStatus("open");
      for (const subscription of this.subscriptions) this._sendSubscribe(subscription);
      for (const [name, stream] of this.streams) this._sendStream(name, stream.options);
    };
    socket.onmessage = (event) => this._receive(event.data);
    socket.onclose = (event) => {
      this.connected = false;
      for (const [, waiter] of this.pending) waiter.reject(new Error("connection closed"));
      this.pending.clear();
      if (this.closed) return this.onStatus("closed", event);
      const delay = RECONNECT_DELAYS_MS[Math.min(this.attempt++, RECONNECT_DELAYS_MS.length - 1)];
      this.onStatus("reconnecting", event);
      setTimeout(() => this.closed || this.connect(), delay);
    };
    return this;
  }

  close() {
    this.closed = true;
    if (this.socket) this.socket.close();
  }

  send(message) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /** Submit a command; resolves with its result message (status applied/superseded/failed). */
  command(kind, fields = {}) {
    const id = String(this.nextId++);
    this.sentAt.set(id, performance.now());
    if (this.sentAt.size > 1000) this.sentAt.delete(this.sentAt.keys().next().value);
    return new Promise((resolve, reject) => {
      if (!this.send({ command: kind, id, ...fields })) {
        reject(new Error("not connected"));
        return;
      }
      this.pending.set(id, { resolve, reject });
    });
  }

  /** Follow subjects; onState(subject, state, node) for each delivery. Renewed on reconnect. */
  subscribe(subjects, onState, options = {}) {
    const subscription = { subjects, options, onState };
    this.subscriptions.push(subscription);
    this._sendSubscribe(subscription);
    return subscription;
  }

  /** Stream a view; onFrame(header, blob) may return a promise: the ack waits for it. */
  stream(name, options, onFrame) {
    this.streams.set(name, { options, onFrame });
    this._sendStream(name, options);
  }

  /** Change a stream's options (format, size, quality) without losing its handler. */
  restream(name, options) {
    const stream = this.streams.get(name);
    if (!stream) return;
    stream.options = options;
    this._sendStream(name, options);
  }

  _sendSubscribe({ subjects, options }) {
    this.send({ subscribe: subjects, ...options });
  }

  _sendStream(name, options) {
    this.send({ stream: name, ...options });
  }

  _receive(data) {
    if (data instanceof ArrayBuffer) return this._frame(data);
    const message = JSON.parse(data);
    if (message.type === "state") {
      for (const subscription of this.subscriptions) {
        if (matches(subscription.subjects, message.subject)) {
          subscription.onState(message.subject, message.state, message.node);
        }
      }
    } else if (message.type === "result" && this.pending.has(message.id)) {
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      waiter.resolve(message);
    } else if (message.type === "error") {
      console.warn("live channel:", message.message);
      if (message.id !== undefined && this.pending.has(String(message.id))) {
        const waiter = this.pending.get(String(message.id));
        this.pending.delete(String(message.id));
        waiter.reject(new Error(message.message));
      }
    }
  }

  async _frame(buffer) {
    const { header, image } = parseFrame(buffer);
    const stream = this.streams.get(header.stream);
    try {
      if (stream) await stream.onFrame(header, image);
    } finally {
      this.send({ ack: header.stream });
    }
  }
}

/** Whether a delivered subject belongs to a subscription (patterns: *, ?). */
function matches(subjects, subject) {
  const list = Array.isArray(subjects) ? subjects : [subjects];
  return list.some((pattern) => {
    if (pattern === subject) return true;
    const [kind, ref = ""] = pattern.split(/:(.*)/s);
    const [subjectKind, subjectRef = ""] = subject.split(/:(.*)/s);
    if (kind.toLowerCase() !== subjectKind) return false;
    if (kind.toLowerCase() === "view") return ref.toLowerCase() === subjectRef || /[*?[]/.test(ref);
    const regex = new RegExp("^" + ref.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$");
    return /[*?[]/.test(ref) && regex.test(subjectRef);
  });
}

/** Frames per second over a sliding window of the last `seconds`. */
export class RateMeter {
  constructor(seconds = 2) {
    this.seconds = seconds;
    this.times = [];
  }
  tick(now = performance.now()) {
    this.times.push(now);
    const oldest = now - this.seconds * 1000;
    while (this.times.length && this.times[0] < oldest) this.times.shift();
  }
  rate(now = performance.now()) {
    const oldest = now - this.seconds * 1000;
    const recent = this.times.filter((time) => time >= oldest);
    return recent.length / this.seconds;
  }
}

/** Connection status into an element: "connected", "reconnecting…". */
export function showStatus(element) {
  return (status) => {
    element.textContent = { open: "connected", reconnecting: "reconnecting…", closed: "closed" }[status] || status;
    element.dataset.status = status;
  };
}
