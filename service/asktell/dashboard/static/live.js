// Polling without overlap: run now, then again after `interval` ms (slower while the tab is hidden).

export class Poller {
  constructor(fn, interval) {
    this.fn = fn;
    this.interval = interval;
    this.running = false;
    this.busy = false;
    this.again = false;
    this.timer = 0;
  }

  start() {
    this.running = true;
    this.now();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
  }

  async now() {
    if (!this.running) return;
    clearTimeout(this.timer);
    if (this.busy) { this.again = true; return; }
    this.busy = true;
    let ok = false;
    try { ok = (await this.fn()) !== false; } catch { ok = false; }
    this.busy = false;
    window.dispatchEvent(new CustomEvent("asktell:tick", { detail: { ok } }));
    if (!this.running) return;
    if (this.again) { this.again = false; this.now(); return; }
    this.timer = setTimeout(() => this.now(), document.hidden ? this.interval * 5 : this.interval);
  }
}

/**
 * Server-sent events read with fetch (so the bearer token goes along): calls `onEvent(data)`
 * for each `change` event and `onState(connected)` as the stream opens and closes. It
 * reconnects by itself: at once after the server ends a stream, more slowly after errors.
 */
export class EventFeed {
  constructor(url, headers, onEvent, onState) {
    Object.assign(this, { url, headers, onEvent, onState, running: false, ctrl: null, failures: 0 });
  }

  start() {
    this.running = true;
    this.loop();
  }

  stop() {
    this.running = false;
    if (this.ctrl) this.ctrl.abort();
  }

  async loop() {
    while (this.running) {
      this.ctrl = new AbortController();
      let opened = false;
      try {
        const res = await fetch(this.url, { headers: this.headers(), signal: this.ctrl.signal, cache: "no-store" });
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        opened = true;
        this.failures = 0;
        this.onState(true);
        await this.read(res.body.pipeThrough(new TextDecoderStream()).getReader());
      } catch {
        if (!opened) this.failures += 1;
      }
      if (!this.running) return;
      this.onState(false);
      const wait = this.failures ? Math.min(30_000, 2000 * this.failures) : 200;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  async read(reader) {
    let buf = "";
    while (this.running) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let end;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
        if (!data) continue;
        try { this.onEvent(JSON.parse(data)); } catch { /* a malformed event is skipped */ }
      }
    }
  }
}
