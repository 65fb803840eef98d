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
