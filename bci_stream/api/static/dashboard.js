// bci-stream dashboard: plain JavaScript, no library. Reads GET status (every second: decoders and recordings), GET
// decoders/{id}/latency (every 2 s) and WS decoders/{id}/outputs?markers=true (live outputs and the markers
// of the decoder's marker stream), and draws on <canvas>. The running trial accuracy comes from status.
// A recording's Stop button sends DELETE recordings/{id}.
// Every URL is relative to the page, so the dashboard also works behind a reverse-proxy prefix.
"use strict";

(() => {
  const STATUS_MS = 1000;           // decoder table refresh
  const LATENCY_MS = 2000;          // histogram refresh
  const MAX_POINTS_PER_S = 100;     // display rate per decoder: the WebSocket is decimated to stay below it
  const RING = 4096;                // points kept per decoder (>= 30 s at 100 points/s)
  const MAX_MARKERS = 64;           // markers kept per decoder for the chart
  const LIVE_STATES = new Set(["running", "stalled"]);
  // its current worker has decoded (else GET latency is a 409, which the browser logs as an error)
  const hasLatency = (st) => LIVE_STATES.has(st.state)
    && Object.values(st.latency_ms || {}).some((s) => s && s.count > 0);
  const STAGES = ["pull", "decode", "publish", "service", "e2e"];
  // Okabe-Ito colours (distinguishable with colour-vision deficiencies), then a few more.
  const COLOURS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#8C6D1F", "#7F7F7F"];

  const ui = { windowS: 10, stage: "e2e", paused: false };
  const panels = new Map();  // decoder id -> Panel
  const $ = (sel, root = document) => root.querySelector(sel);
  // When the service has a token, open the dashboard as /?token=...: it is sent as a bearer header on
  // every request, and as ?token= on the WebSocket (browsers cannot set its headers).
  const TOKEN = new URLSearchParams(location.search).get("token");
  const authFetch = (url, init = {}) =>
    fetch(url, { cache: "no-store", ...init, headers: TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {} });

  // ---------- formatting ----------
  const fmtInt = (n) => (n == null ? "–" : Number(n).toLocaleString("en-US"));
  function fmtMs(v) {
    if (v == null || !Number.isFinite(v)) return "–";
    if (v < 1) return v.toFixed(3);
    if (v < 100) return v.toFixed(2);
    return v.toFixed(0);
  }
  function fmtDuration(s) {
    s = Math.floor(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return h ? `${h} h ${m} min` : m ? `${m} min ${s % 60} s` : `${s % 60} s`;
  }
  // a non-finite output (null in the JSON) shows as "–" (audit s68api F4: toFixed of null threw, the chart stopped)
  const fmtValue = (v) => (!Number.isFinite(v) ? "–" : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2));
  function argmax(row) {  // -1 for a row with a non-finite (null) value: it decides no class
    if (row.some((v) => !Number.isFinite(v))) return -1;
    let k = 0;
    for (let i = 1; i < row.length; i++) if (row[i] > row[k]) k = i;
    return k;
  }
  function theme() {
    const s = getComputedStyle(document.documentElement);
    const v = (name) => s.getPropertyValue(name).trim();
    return { fg: v("--fg"), muted: v("--muted"), grid: v("--grid"), line: v("--line"), bar: v("--bar"),
             bad: v("--bad"), card: v("--card") };
  }
  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  // A canvas drawn at the device's pixel density; returns the 2D context in CSS pixels.
  function fitCanvas(canvas) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    return { g, w: w / dpr, h: h / dpr };
  }

  // ---------- one decoder ----------
  class Panel {
    constructor(id) {
      this.id = id;
      this.el = $("#panel-template").content.firstElementChild.cloneNode(true);
      this.el.id = `decoder-${id}`;
      this.el.dataset.decoderId = id;
      this.el.setAttribute("aria-label", `decoder ${id}`);
      for (const name of ["decoder-id", "state", "model", "live-info", "legend", "now-label", "now-value",
                          "rate", "received", "dropped", "ws-state", "stage-name", "hist-info", "error", "output-note",
                          "marker-info", "accuracy", "unscored", "scoring-hint"]) {
        this[name.replace(/-(.)/g, (_, c) => c.toUpperCase())] = $(`.${name}`, this.el);
      }
      this.outputs = $("canvas.outputs", this.el);
      this.latencyCanvas = $("canvas.latency", this.el);
      this.pctBody = $(".percentiles tbody", this.el);
      this.decoderId.textContent = id;
      this.status = null;
      this.ws = null;
      this.labels = null;
      this.n = 0;                      // points in the ring
      this.head = 0;                   // next write index
      this.points = 0;                 // points ever received
      this.messages = 0;
      this.lastRate = { t: performance.now(), points: 0 };
      this.latency = null;             // last GET latency body
      this.latencyAt = 0;
      this.drawPending = false;
      this.kind = null;
      this.markers = [];               // {t, value, cls}: recent markers, drawn on the chart
      $("#panels").appendChild(this.el);
    }

    update(st) {
      this.status = st;
      this.state.textContent = st.state;
      this.state.dataset.state = st.state;
      const m = st.model;
      this.model.textContent = m ? `${m.name} ${m.version} · ${(m.sha256 || "").slice(0, 12)}` +
        (st.stream ? ` · ${st.stream.name} (${st.stream.n_chans} ch, ${st.stream.sfreq} Hz)` : "") : "";
      this.kind = m ? m.kind : null;
      const stall = st.state === "stalled" && st.stall
        ? `stalled ${st.stall.seconds.toFixed(1)} s: ${st.stall.reason}` : "";
      this.error.hidden = !st.last_error && !stall;
      this.error.textContent = st.last_error ? `last error: ${st.last_error}` : stall;
      // another decoder publishes a decoded stream of this one's name on this host (status.output_stream.note)
      const note = st.output_stream && st.output_stream.note;
      this.outputNote.hidden = !note;
      this.outputNote.textContent = note ? `decoded stream: ${note}` : "";
      this.renderPercentiles(st.latency_ms || {});
      this.renderScoring(st.markers, st.scoring);
      const now = performance.now();
      const rate = (this.points - this.lastRate.points) / ((now - this.lastRate.t) / 1000);
      this.lastRate = { t: now, points: this.points };
      this.rate.textContent = this.ws && this.ws.readyState === WebSocket.OPEN ? rate.toFixed(0) : "–";
      if (!this.ws && LIVE_STATES.has(st.state)) this.connect();
      if (!this.n && st.last_label) this.nowLabel.textContent = st.last_label;
      if (hasLatency(st) && now - this.latencyAt >= LATENCY_MS) {
        this.latencyAt = now;
        this.fetchLatency();
      }
      this.outputs.setAttribute("aria-label", this.outputsSummary());
    }

    // The marker stream, the running trial accuracy and the cues it leaves out (status.markers, status.scoring):
    // pending (decision sample not decoded yet), missed (no output at the cue or a gap) and interrupted (the state
    // changed between cue and decision). Interrupted cues get a hint: a client that resets on each cue resets first.
    renderScoring(mk, sc) {
      let info = "off";
      if (mk) info = mk.state === "connected" && mk.stream ? `${mk.stream.name}: ${fmtInt(mk.received)} received`
        : `${mk.state}${mk.received ? `, ${fmtInt(mk.received)} received` : ""}`;
      this.markerInfo.textContent = info;
      let acc = "–";
      if (sc && sc.off) acc = `not scored: ${sc.off}`;
      else if (sc && sc.trials) {
        const ci = sc.ci95 ? ` (95 % CI ${(100 * sc.ci95[0]).toFixed(0)}–${(100 * sc.ci95[1]).toFixed(0)} %)` : "";
        acc = `${sc.correct}/${sc.trials} = ${(100 * sc.accuracy).toFixed(0)} %${ci} at ${sc.decision_time_s} s`;
        if (sc.reset_at_start) acc += `, ${fmtInt(sc.reset_at_start)} from a reset on the cue`;
      } else if (sc) acc = `no trial yet (decided ${sc.decision_time_s} s after each cue)`;
      this.accuracy.textContent = acc;
      this.accuracy.title = sc && !sc.off && sc.model ? `marker map of ${sc.model} (${sc.source})` : "";
      this.accuracy.dataset.trials = sc && sc.trials != null ? String(sc.trials) : "0";
      this.accuracy.dataset.correct = sc && sc.correct != null ? String(sc.correct) : "0";
      const counts = { pending: 0, missed: 0, interrupted: 0 };
      for (const k of Object.keys(counts)) {
        counts[k] = sc && Number.isFinite(sc[k]) ? sc[k] : 0;
        this.unscored.dataset[k] = String(counts[k]);
      }
      const { pending, missed, interrupted } = counts;
      this.unscored.textContent = !sc || sc.off ? "–"
        : `${fmtInt(pending)} pending · ${fmtInt(missed)} missed · ${fmtInt(interrupted)} interrupted`;
      let hint = "";
      if (sc && !sc.off && counts.interrupted > 0) {
        const grace = sc.reset_grace_s != null ? ` (or within ${1000 * sc.reset_grace_s} ms after it)` : "";
        hint = `${fmtInt(counts.interrupted)} cue(s) interrupted: the decoder was reset, restored or swapped between ` +
          `a cue and its decision, so they are not scored. Reset before pushing the cue${grace}.`;
      }
      // the scores the current one does not count: under earlier models (swaps) and earlier workers (restarts)
      const scoreOf = (p) => (p.trials ? `${p.correct}/${p.trials} = ${(100 * p.accuracy).toFixed(0)} %` : "no trial");
      const add = (text) => { hint += `${hint ? " " : ""}${text}`; };
      if (sc && sc.previous) add(`Before the last model swap (${sc.previous.model}): ${scoreOf(sc.previous)}.`);
      if (sc && sc.before_previous && sc.before_previous.length) {
        add(`Earlier models: ${sc.before_previous.map((p) => `${p.model} ${scoreOf(p)}`).join("; ")}.`);
      }
      if (sc && sc.before_restart && sc.before_restart.length) {
        add(`Before worker restarts: ${sc.before_restart.map((p) => {
          const swapped = p.previous ? ` (and ${p.previous.model} before a swap: ${scoreOf(p.previous)})` : "";
          const own = p.off ? "scoring off" : `${p.model} ${scoreOf(p)}`;  // a swapped-in model not scored
          return `worker ${p.generation}, ${own}${swapped}`;
        }).join("; ")}.`);
      }
      this.scoringHint.textContent = hint;
      this.scoringHint.hidden = !hint;
    }

    renderPercentiles(lat) {
      this.pctBody.replaceChildren();
      const extra = Object.keys(lat).filter((k) => !STAGES.includes(k));
      for (const stage of [...STAGES, ...extra]) {
        const s = lat[stage];
        if (!s) continue;
        const tr = document.createElement("tr");
        const th = document.createElement("th");
        th.scope = "row";
        th.textContent = stage;
        tr.appendChild(th);
        cell(tr, fmtInt(s.count), "num");
        for (const k of ["p50", "p90", "p99", "p99_9", "max"]) cell(tr, fmtMs(s[k]), "num");
        if (s.n_negative) { th.textContent = `${stage} ⚠`; tr.title = s.note; }  // stamps ahead of this host's clock
        this.pctBody.appendChild(tr);
      }
    }

    connect() {
      const sfreq = this.status && this.status.stream ? this.status.stream.sfreq : 0;
      const decimate = sfreq > 0 ? Math.max(1, Math.ceil(sfreq / MAX_POINTS_PER_S)) : 10;
      const url = new URL(`decoders/${encodeURIComponent(this.id)}/outputs?decimate=${decimate}&markers=true`,
                          location.href);
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      if (TOKEN) url.searchParams.set("token", TOKEN);
      const ws = new WebSocket(url);
      this.ws = ws;
      this.wsState.textContent = "connecting";
      ws.onopen = () => { this.wsState.textContent = decimate > 1 ? `open, 1 in ${decimate} samples` : "open, every sample"; };
      ws.onmessage = (ev) => this.onData(JSON.parse(ev.data));
      ws.onclose = (ev) => {
        // The next status poll reconnects if the decoder is still live.
        if (this.ws === ws) this.ws = null;
        this.wsState.textContent = ev.reason ? `closed: ${ev.reason}` : "closed";
      };
    }

    close() {
      if (this.ws) { const ws = this.ws; this.ws = null; ws.close(); }
      this.el.remove();
    }

    ensureBuffers(labels, k) {
      const names = labels && labels.length === k ? labels : Array.from({ length: k }, (_, i) => `y${i}`);
      if (this.labels && this.labels.length === k && this.labels.every((l, i) => l === names[i])) return;
      this.labels = names;
      this.t = new Float64Array(RING);
      this.epoch = new Float64Array(RING);
      this.y = names.map(() => new Float32Array(RING));
      this.n = 0;
      this.head = 0;
      this.legend.replaceChildren();
      names.forEach((name, i) => {
        const li = document.createElement("li");
        li.textContent = name;
        li.style.setProperty("--swatch", COLOURS[i % COLOURS.length]);
        this.legend.appendChild(li);
      });
    }

    onData(msg) {
      if (msg.type === "marker") {
        this.markers.push({ t: msg.timestamp, value: msg.value, cls: msg.class });
        if (this.markers.length > MAX_MARKERS) this.markers.shift();
        this.scheduleDraw();
        return;
      }
      const rows = msg.y || [];
      if (!rows.length) return;
      this.ensureBuffers(msg.labels, rows[0].length);
      for (let r = 0; r < rows.length; r++) {
        const i = this.head;
        this.t[i] = msg.t[r];
        this.epoch[i] = msg.state_epoch[r];
        for (let k = 0; k < this.y.length; k++) this.y[k][i] = rows[r][k] ?? NaN;  // null: not drawn
        this.head = (i + 1) % RING;
        if (this.n < RING) this.n++;
      }
      this.points += rows.length;
      this.messages++;
      this.outputs.dataset.points = String(this.points);
      this.outputs.dataset.messages = String(this.messages);
      this.received.textContent = fmtInt(this.points);
      this.dropped.textContent = fmtInt(msg.dropped);
      const last = rows[rows.length - 1];
      const k = argmax(last);
      if (k < 0) {
        this.nowLabel.textContent = "– (non-finite output)";
        this.nowValue.textContent = "";
      } else if (this.kind === "categorical") {
        this.nowLabel.textContent = this.labels[k];
        this.nowValue.textContent = `p = ${last[k].toFixed(2)}`;
      } else {
        this.nowLabel.textContent = last.map(fmtValue).join(" / ");
        this.nowValue.textContent = this.labels.join(" / ");
      }
      this.nowLabel.style.color = k < 0 ? "" : COLOURS[k % COLOURS.length];
      this.scheduleDraw();
    }

    scheduleDraw() {
      if (this.drawPending || ui.paused) return;
      this.drawPending = true;
      requestAnimationFrame(() => { this.drawPending = false; this.drawOutputs(); });
    }

    outputsSummary() {
      if (!this.n) return `Decoded outputs of decoder ${this.id}: no data yet`;
      return `Decoded outputs of decoder ${this.id} over the last ${ui.windowS} s; current ${this.nowLabel.textContent} ` +
        `${this.nowValue.textContent}`;
    }

    // Rolling line chart: x = input timestamp relative to the newest point, y = each output.
    drawOutputs() {
      const { g, w, h } = fitCanvas(this.outputs);
      const c = theme();
      const L = 44, R = 8, T = 8, B = 20, pw = w - L - R, ph = h - T - B;
      g.clearRect(0, 0, w, h);
      g.font = "11px system-ui, sans-serif";
      if (!this.n) {
        g.fillStyle = c.muted;
        g.fillText("waiting for outputs…", L + 8, T + 18);
        return;
      }
      const newest = (this.head - 1 + RING) % RING;
      const tEnd = this.t[newest], tStart = tEnd - ui.windowS;
      // the visible points: walk back from the newest
      let count = 0;
      while (count < this.n && this.t[(newest - count + RING) % RING] >= tStart) count++;
      const first = (newest - count + 1 + RING) % RING;
      let lo = 0, hi = 1;
      if (this.kind !== "categorical") {
        lo = Infinity; hi = -Infinity;
        for (let j = 0; j < count; j++) {
          const i = (first + j) % RING;
          for (const yk of this.y) { if (yk[i] < lo) lo = yk[i]; if (yk[i] > hi) hi = yk[i]; }
        }
        if (!Number.isFinite(lo) || !Number.isFinite(hi)) { lo = 0; hi = 1; }  // no finite value shown
        if (!(hi > lo)) { lo -= 1; hi += 1; }
        const pad = (hi - lo) * 0.05; lo -= pad; hi += pad;
      }
      const X = (t) => L + ((t - tStart) / ui.windowS) * pw;
      const Y = (v) => T + (1 - (v - lo) / (hi - lo)) * ph;
      // grid and axes
      g.lineWidth = 1;
      g.strokeStyle = c.grid;
      g.fillStyle = c.muted;
      g.textAlign = "right"; g.textBaseline = "middle";
      for (let j = 0; j <= 4; j++) {
        const v = lo + (j / 4) * (hi - lo), y = Math.round(Y(v)) + 0.5;
        g.beginPath(); g.moveTo(L, y); g.lineTo(L + pw, y); g.stroke();
        g.fillText(fmtValue(v), L - 5, y);
      }
      const step = ui.windowS <= 10 ? 1 : 5;
      g.textAlign = "center"; g.textBaseline = "top";
      for (let s = 0; s <= ui.windowS; s += step) {
        const x = Math.round(X(tEnd - s)) + 0.5;
        g.beginPath(); g.moveTo(x, T); g.lineTo(x, T + ph); g.stroke();
        g.fillText(s === 0 ? "now" : `−${s} s`, Math.min(Math.max(x, L + 10), L + pw - 12), T + ph + 5);
      }
      g.strokeStyle = c.line;
      g.strokeRect(L + 0.5, T + 0.5, pw, ph);
      // state changes (reset, swap, restore): dashed vertical lines
      g.save();
      g.setLineDash([4, 3]);
      g.strokeStyle = c.bad;
      for (let j = 1; j < count; j++) {
        const i = (first + j) % RING, p = (first + j - 1) % RING;
        if (this.epoch[i] !== this.epoch[p]) {
          const x = Math.round(X(this.t[i])) + 0.5;
          g.beginPath(); g.moveTo(x, T); g.lineTo(x, T + ph); g.stroke();
        }
      }
      g.restore();
      // markers: solid vertical lines labelled with their value (cues that are scored in bold)
      g.save();
      g.strokeStyle = c.fg; g.fillStyle = c.fg; g.textAlign = "left"; g.textBaseline = "top";
      for (const m of this.markers) {
        if (m.t < tStart || m.t > tEnd) continue;
        const x = Math.round(X(m.t)) + 0.5;
        g.globalAlpha = m.cls ? 0.9 : 0.4;
        g.beginPath(); g.moveTo(x, T); g.lineTo(x, T + ph); g.stroke();
        g.font = m.cls ? "bold 11px system-ui, sans-serif" : "11px system-ui, sans-serif";
        g.fillText(m.value, x + 3, T + 2);
      }
      g.restore();
      // one line per output
      g.save();
      g.beginPath(); g.rect(L, T, pw, ph); g.clip();
      g.lineWidth = 1.5; g.lineJoin = "round";
      this.y.forEach((yk, k) => {
        g.strokeStyle = COLOURS[k % COLOURS.length];
        g.beginPath();
        let pen = false;  // lifted over non-finite values
        for (let j = 0; j < count; j++) {
          const i = (first + j) % RING;
          if (!Number.isFinite(yk[i])) { pen = false; continue; }
          if (pen) g.lineTo(X(this.t[i]), Y(yk[i])); else g.moveTo(X(this.t[i]), Y(yk[i]));
          pen = true;
        }
        g.stroke();
      });
      g.restore();
      this.liveInfo.textContent = `(last ${ui.windowS} s, ${count} points)`;
    }

    async fetchLatency() {
      try {
        const r = await authFetch(`decoders/${encodeURIComponent(this.id)}/latency`);
        if (r.status === 409) { this.latency = null; this.drawLatency(); return; }  // no data yet
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        this.latency = await r.json();
      } catch (e) {
        this.histInfo.textContent = `(not available: ${e.message})`;
        return;
      }
      this.drawLatency();
    }

    // Histogram of the selected stage on a log time axis; dashed lines at p50 and p99.
    drawLatency() {
      const { g, w, h } = fitCanvas(this.latencyCanvas);
      const c = theme();
      const L = 44, R = 8, T = 14, B = 20, pw = w - L - R, ph = h - T - B;
      g.clearRect(0, 0, w, h);
      g.font = "11px system-ui, sans-serif";
      this.stageName.textContent = ui.stage;
      const stage = this.latency && this.latency.stages[ui.stage];
      if (!stage || !stage.count) {
        g.fillStyle = c.muted;
        g.fillText(this.latency && !stage ? `this decoder reports no stage "${ui.stage}"` : "no latency data yet",
                   L + 8, T + 14);
        this.histInfo.textContent = "";
        this.latencyCanvas.setAttribute("aria-label", `Latency histogram of ${ui.stage}: no data yet`);
        return;
      }
      const edges = this.latency.edges;                      // seconds, upper bucket edges
      const counts = stage.counts;                           // one more than edges: the overflow
      const ratio = edges[1] / edges[0];
      const upper = (i) => (i < edges.length ? edges[i] : edges[edges.length - 1] * ratio);
      let a = counts.findIndex((n) => n > 0), b = counts.length - 1;
      while (b > 0 && counts[b] === 0) b--;
      a = Math.max(0, a - 2); b = Math.min(counts.length - 1, b + 2);
      const lx0 = Math.log10(upper(a) / ratio), lx1 = Math.log10(upper(b));
      const X = (sec) => L + ((Math.log10(sec) - lx0) / (lx1 - lx0)) * pw;
      let top = 0;
      for (let i = a; i <= b; i++) top = Math.max(top, counts[i]);
      const Y = (n) => T + ph - (n / top) * ph;
      // axes: decades in ms
      g.strokeStyle = c.grid; g.fillStyle = c.muted; g.lineWidth = 1;
      g.textAlign = "center"; g.textBaseline = "top";
      const mantissas = lx1 - lx0 < 3 ? [1, 2, 5] : [1];
      for (let d = Math.floor(lx0); d <= Math.ceil(lx1); d++) {
        for (const m of mantissas) {
          const sec = m * 10 ** d, lx = Math.log10(sec);
          if (lx < lx0 || lx > lx1) continue;
          const x = Math.round(X(sec)) + 0.5;
          g.beginPath(); g.moveTo(x, T); g.lineTo(x, T + ph); g.stroke();
          const ms = +(sec * 1000).toPrecision(1);
          g.fillText(`${ms} ms`, Math.min(Math.max(x, L + 16), L + pw - 18), T + ph + 5);
        }
      }
      g.textAlign = "right"; g.textBaseline = "middle";
      g.fillText(fmtInt(top), L - 5, T + 4);
      g.fillText("0", L - 5, T + ph);
      g.strokeStyle = c.line;
      g.strokeRect(L + 0.5, T + 0.5, pw, ph);
      // bars
      g.fillStyle = c.bar;
      for (let i = a; i <= b; i++) {
        if (!counts[i]) continue;
        const x0 = X(upper(i) / ratio), x1 = X(upper(i));
        g.fillRect(x0 + 0.5, Y(counts[i]), Math.max(1, x1 - x0 - 1), T + ph - Y(counts[i]));
      }
      // percentiles
      const s = stage.summary_ms;
      g.save();
      g.setLineDash([4, 3]); g.strokeStyle = c.fg; g.fillStyle = c.fg;
      g.textAlign = "left"; g.textBaseline = "top";
      for (const [key, name] of [["p50", "p50"], ["p99", "p99"]]) {
        if (s[key] == null) continue;
        const x = Math.round(X(s[key] / 1000)) + 0.5;
        g.beginPath(); g.moveTo(x, T); g.lineTo(x, T + ph); g.stroke();
        g.fillText(name, x + 3, key === "p50" ? T + 2 : T + 14);
      }
      g.restore();
      const info = `p50 ${fmtMs(s.p50)} ms, p99 ${fmtMs(s.p99)} ms, max ${fmtMs(s.max)} ms, ${fmtInt(stage.count)} values`;
      this.histInfo.textContent = `(${info})` + (s.note ? ` — ${s.note}` : "");
      this.latencyCanvas.setAttribute("aria-label", `Latency histogram of ${ui.stage}: ${info}`);
    }

    redraw() { this.drawOutputs(); this.drawLatency(); }
  }

  // ---------- the page ----------
  function setConnection(state, text) {
    const el = $("#connection");
    if (el.dataset.state !== state || el.textContent !== text) { el.dataset.state = state; el.textContent = text; }
  }

  function renderTable(decoders) {
    const body = $("#decoders tbody");
    body.replaceChildren();
    for (const d of decoders) {
      const tr = document.createElement("tr");
      tr.dataset.decoderId = d.id;
      const th = document.createElement("th");
      th.scope = "row";
      const a = document.createElement("a");
      a.href = `#decoder-${d.id}`;
      a.textContent = d.id;
      th.appendChild(a);
      tr.appendChild(th);
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.dataset.state = d.state;
      badge.textContent = d.state;
      cell(tr, "").appendChild(badge);
      const m = d.model;
      const modelCell = cell(tr, m ? `${m.name} ${m.version}` : d.request.model);
      if (m && m.sha256) modelCell.title = `sha256 ${m.sha256}`;
      const s = d.stream;
      cell(tr, s ? `${s.name} · ${s.n_chans} ch · ${s.sfreq} Hz` : JSON.stringify(d.request.stream));
      const k = d.counters || {};
      for (const key of ["samples_in", "samples_out", "samples_lost", "gaps", "deadline_misses"]) cell(tr, fmtInt(k[key]), "num");
      cell(tr, fmtInt(d.restarts), "num");
      const e2e = (d.latency_ms || {}).e2e;
      cell(tr, e2e ? `${fmtMs(e2e.p50)} / ${fmtMs(e2e.p99)}` : "–", "num");
      let out = "–";
      if (d.last_label) out = `${d.last_label} (${Math.max(...d.last_output).toFixed(2)})`;
      else if (d.last_output) out = d.last_output.map(fmtValue).join(", ");
      cell(tr, out);
      body.appendChild(tr);
    }
    $("#empty").hidden = decoders.length > 0;
  }

  // ---------- recordings with no model (status.recordings), one row each, updated in place ----------
  const RECORDING_LIVE = new Set(["searching", "recording"]);
  const recordingRows = new Map();  // recording id -> {tr, cells, button, stopping, stopError}
  const stoppedHere = new Set();     // ids this page stopped: a status fetched before the DELETE may still list them

  function recordingRow(id) {
    const tr = document.createElement("tr");
    tr.dataset.recordingId = id;
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = id;
    tr.appendChild(th);
    const badge = document.createElement("span");
    badge.className = "badge";
    cell(tr, "").appendChild(badge);
    const cells = { badge };
    for (const [key, cls] of [["stream", ""], ["samples", "num"], ["markers", "num"], ["lost", "num"], ["file", ""],
                              ["error", "rec-error"]]) cells[key] = cell(tr, "", cls);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "stop";
    const row = { tr, cells, button, stopping: false, stopError: "" };
    button.addEventListener("click", () => stopRecording(id, row));
    cell(tr, "").appendChild(button);
    return row;
  }

  // DELETE recordings/{id} (with the token, as every request of the page): the recording stops, its file is
  // finished, and it leaves the list, so its row goes; a refusal is shown in the row's error cell.
  async function stopRecording(id, row) {
    row.stopping = true;
    row.stopError = "";
    row.button.disabled = true;
    row.button.textContent = "Stopping…";
    try {
      const r = await authFetch(`recordings/${encodeURIComponent(id)}`, { method: "DELETE" });
      if (!r.ok) throw new Error(`DELETE /recordings/${id} answered HTTP ${r.status}: ${await r.text()}`);
      stoppedHere.add(id);
      row.tr.remove();
      recordingRows.delete(id);
      $("#no-recordings").hidden = recordingRows.size > 0;
    } catch (e) {
      row.stopError = `stop failed: ${e.message}`;
      row.cells.error.textContent = row.stopError;
    } finally {
      row.stopping = false;
      row.button.disabled = false;
    }
  }

  function renderRecordings(recordings) {
    const body = $("#recordings tbody");
    const seen = new Set();
    for (const r of recordings) {
      if (stoppedHere.has(r.id)) continue;
      seen.add(r.id);
      let row = recordingRows.get(r.id);
      if (!row) { row = recordingRow(r.id); recordingRows.set(r.id, row); }
      body.appendChild(row.tr);  // in the order of the list (oldest first)
      const c = row.cells;
      c.badge.dataset.state = r.state;
      c.badge.textContent = r.state;
      c.stream.textContent = r.stream_name ? `${r.stream_name} · ${r.sfreq} Hz` : JSON.stringify(r.stream);
      c.samples.textContent = fmtInt(r.samples);
      c.samples.title = `${r.seconds.toFixed(1)} s` + (r.stalled_s ? `; no sample for ${r.stalled_s.toFixed(0)} s` : "");
      c.markers.textContent = fmtInt(r.markers);
      c.markers.title = `marker stream ${r.marker_stream_name || r.marker_stream || "not looked for yet"}: ` +
        r.marker_state;
      c.lost.textContent = fmtInt(r.lost_samples);
      c.file.textContent = r.out;
      c.file.title = r.path || "no file (nothing recorded)";
      // a file it cannot write now (a full disk, the file removed): said while it records (audit s69record F2)
      const unwritten = r.write_error ? `not writing: ${r.write_error} (${fmtInt(r.unrecorded_samples)} samples not written)` : "";
      c.error.textContent = row.stopError || r.error || unwritten;
      c.error.title = r.notes.join("\n");
      const live = RECORDING_LIVE.has(r.state);
      if (!row.stopping) row.button.textContent = live ? "Stop" : "Remove";
      row.button.setAttribute("aria-label", `${live ? "Stop" : "Remove"} recording ${r.id}`);
    }
    for (const [id, row] of recordingRows) if (!seen.has(id)) { row.tr.remove(); recordingRows.delete(id); }
    $("#no-recordings").hidden = recordingRows.size > 0;
  }

  function render(status) {
    const nRec = status.n_recordings || 0;
    $("#service").textContent = `version ${status.version} · up ${fmtDuration(status.uptime_s)} · ` +
      `${status.n_decoders} decoder${status.n_decoders === 1 ? "" : "s"} · ${nRec} recording${nRec === 1 ? "" : "s"}`;
    renderTable(status.decoders);
    renderRecordings(status.recordings || []);
    const seen = new Set();
    for (const d of status.decoders) {
      seen.add(d.id);
      let p = panels.get(d.id);
      if (!p) { p = new Panel(d.id); panels.set(d.id, p); p.redraw(); }
      p.update(d);
    }
    for (const [id, p] of panels) if (!seen.has(id)) { p.close(); panels.delete(id); }
  }

  async function poll() {
    try {
      const r = await authFetch("status");
      if (!r.ok) throw new Error(`GET /status answered HTTP ${r.status}`);
      render(await r.json());
      setConnection("online", "online");
    } catch (e) {
      setConnection("offline", `offline (${e.message})`);
    } finally {
      setTimeout(poll, STATUS_MS);
    }
  }

  function init() {
    const win = $("#window"), stage = $("#stage"), pause = $("#pause");
    ui.windowS = Number(win.value);
    ui.stage = stage.value;
    win.addEventListener("change", () => { ui.windowS = Number(win.value); panels.forEach((p) => p.drawOutputs()); });
    stage.addEventListener("change", () => {
      ui.stage = stage.value;
      panels.forEach((p) => { p.drawLatency(); if (p.status && hasLatency(p.status)) p.fetchLatency(); });
    });
    pause.addEventListener("click", () => {
      ui.paused = !ui.paused;
      pause.setAttribute("aria-pressed", String(ui.paused));
      pause.textContent = ui.paused ? "Resume charts" : "Pause charts";
      if (!ui.paused) panels.forEach((p) => p.drawOutputs());
    });
    let resizeTimer = 0;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => panels.forEach((p) => p.redraw()), 100);
    });
    poll();
  }

  init();
})();
