// soundkit region editor: a Streamlit components.v2 module (plain JS, no build step).
//
// Draws a long recording's waveform (a min/max envelope computed in Python) above its log-mel
// spectrogram (a PNG rendered in Python) on one time axis, with the stored regions on top. The
// audio itself never comes here: "Play" asks Python for exactly the selected region's samples.
//
// Mouse: drag on empty ground to create a region, drag a region's body to move it, its edges to
// resize it, click to select. Keys (the editor focused): Delete/Backspace deletes the selection,
// Enter or "a" accepts a suggestion, space plays, +/- zoom, left/right scroll.
//
// Every change goes to Python as one trigger value "edit" ({op: add|move|relabel|delete|accept,
// ...}); Python validates it, writes the store and sends the stored regions back in `data.regions`.
// "play" ({id, start, end}) asks for a region's audio, answered in `data.clip` ({nonce, url}).
// The view (zoom, scroll, selection) lives in window.__soundkitRegions keyed by `data.id`, so a
// rerun does not reset it.
//
// The pictures (`data.overview`, `data.detail`: {key, env_min, env_max, spec}) come whole once per
// key; later reruns carry the key only, and the pictures are kept here (MAX_PICTURES, the last used
// kept). A key whose picture is not here is asked for with the state value "need" ({key, nonce}).

const CSS = `
.skreg { font: 14px sans-serif; color: inherit; user-select: none; }
.skreg-bar { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin-bottom: 6px; }
.skreg-bar button { padding: 3px 10px; border: 1px solid #999; border-radius: 6px; background: transparent;
  color: inherit; cursor: pointer; }
.skreg-bar button:disabled { opacity: 0.4; cursor: default; }
.skreg-bar input { padding: 3px 6px; border: 1px solid #999; border-radius: 6px; width: 12em; }
.skreg-canvas { display: block; width: 100%; outline: none; cursor: crosshair; border-radius: 4px; }
.skreg-canvas:focus { box-shadow: 0 0 0 2px #ff4b4b88; }
.skreg-scroll { width: 100%; margin: 4px 0 0 0; }
.skreg-info { font-size: 12px; opacity: 0.8; min-height: 1.2em; }
`;

const WAVE_H = 90, SPEC_H = 150, AXIS_H = 22, EDGE_PX = 6, DRAG_PX = 3, MAX_PICTURES = 6;
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"];

function colorOf(label, labels) {
  const i = Math.max(0, labels.indexOf(label));
  return COLORS[i % COLORS.length];
}

function fmt(t) { return t.toFixed(t < 100 ? 2 : 1); }

function niceStep(span, px) {
  const raw = span / Math.max(1, px / 90);
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

function build(parentElement) {
  const root = document.createElement("div");
  root.className = "skreg";
  root.innerHTML = `<style>${CSS}</style>
    <div class="skreg-bar">
      <button type="button" data-act="zoomin" title="Zoom in (+)">Zoom in</button>
      <button type="button" data-act="zoomout" title="Zoom out (-)">Zoom out</button>
      <button type="button" data-act="fit" title="The whole recording">Fit</button>
      <span style="width:10px"></span>
      <label>Label <input type="text" class="skreg-label" list="" placeholder="pick or type"/></label>
      <datalist class="skreg-labels"></datalist>
      <button type="button" data-act="relabel" title="Give the selected region this label">Set label</button>
      <button type="button" data-act="play" title="Play the selected region (space)">Play</button>
      <button type="button" data-act="accept" title="Accept the suggestion (Enter or a)">Accept</button>
      <button type="button" data-act="delete" title="Delete the selected region (Delete)">Delete</button>
    </div>
    <canvas class="skreg-canvas" tabindex="0"></canvas>
    <input type="range" class="skreg-scroll" min="0" max="1000" value="0" step="1"/>
    <div class="skreg-info"></div>
    <audio class="skreg-audio" preload="auto"></audio>`;
  parentElement.appendChild(root);
  const listId = "skreg-labels-" + Math.random().toString(36).slice(2);
  root.querySelector(".skreg-labels").id = listId;
  root.querySelector(".skreg-label").setAttribute("list", listId);
  return root;
}

export default function (component) {
  const { data, setTriggerValue, setStateValue, parentElement } = component;
  const cfg = data || {};
  const id = cfg.id || "regions";
  const reg = (window.__soundkitRegions = window.__soundkitRegions || {});
  let S = reg[id];
  if (!S || S.rec !== cfg.rec) {
    S = reg[id] = { rec: cfg.rec, t0: 0, t1: cfg.duration || 1, selected: null, drag: null, clipNonce: null,
                    focusNonce: null, label: "" };
  }
  S.cfg = cfg;
  S.trigger = setTriggerValue;
  S.setState = setStateValue;
  S.regions = (cfg.regions || []).map((g) => ({ ...g }));
  const duration = Math.max(cfg.duration || 1, 1e-3);
  if (cfg.focus && cfg.focus.nonce !== S.focusNonce) {
    S.focusNonce = cfg.focus.nonce;
    S.selected = cfg.focus.id;
  }
  if (S.selected !== null && !S.regions.some((g) => g.id === S.selected)) S.selected = null;

  let root = parentElement.querySelector(".skreg");
  if (!root) root = build(parentElement);
  const canvas = root.querySelector("canvas");
  const scroll = root.querySelector(".skreg-scroll");
  const info = root.querySelector(".skreg-info");
  const labelInput = root.querySelector(".skreg-label");
  const audio = root.querySelector("audio");
  const datalist = root.querySelector("datalist");
  const labels = cfg.labels || [];
  datalist.innerHTML = "";
  for (const lab of labels) {
    const o = document.createElement("option");
    o.value = lab;
    datalist.appendChild(o);
  }
  if (!labelInput.value && cfg.default_label) labelInput.value = cfg.default_label;

  // the pictures: kept by key across reruns (and recordings), sent whole only the first time
  const pics = (reg.__pictures = reg.__pictures || new Map());
  const asked = (reg.__asked = reg.__asked || {});
  const redraw = () => { const s = reg[id]; if (s && s.draw) s.draw(); };
  const picture = (p) => {
    if (!p || !p.key) return null;
    if (p.spec !== undefined && !pics.has(p.key)) {
      const img = new Image();
      img.onload = redraw;
      img.src = p.spec;
      pics.set(p.key, { env_min: p.env_min || [], env_max: p.env_max || [], img });
      while (pics.size > MAX_PICTURES) pics.delete(pics.keys().next().value);
    }
    const got = pics.get(p.key);
    if (!got) {  // sent only by key, and not here (never drawn, or let go): ask for it once a while
      const now = Date.now();
      if (setStateValue && !(asked[p.key] > now - 2000)) {
        asked[p.key] = now;
        setStateValue("need", { key: p.key, nonce: Math.random().toString(36).slice(2) });
      }
      return null;
    }
    pics.delete(p.key); pics.set(p.key, got);  // the last used is kept longest
    return got;
  };
  const ov = picture(cfg.overview);
  S.img = ov ? ov.img : null;
  const envMin = ov ? ov.env_min : [], envMax = ov ? ov.env_max : [];
  // a finer envelope and spectrogram of the stretch around the view, sent after a zoom
  const detCfg = cfg.detail && cfg.detail.rec === cfg.rec ? cfg.detail : null;
  const detPic = picture(detCfg);
  const det = detCfg && detPic ? { t0: detCfg.t0, t1: detCfg.t1, env_min: detPic.env_min, env_max: detPic.env_max } : null;
  S.detailImg = det ? detPic.img : null;

  const send = (edit) => {
    if (S.trigger) S.trigger("edit", { ...edit, nonce: Math.random().toString(36).slice(2) });
  };
  const selectedRegion = () => S.regions.find((g) => g.id === S.selected) || null;

  const width = () => Math.max(200, canvas.clientWidth || parentElement.clientWidth || 800);
  const xOf = (t) => ((t - S.t0) / (S.t1 - S.t0)) * width();
  const tOf = (x) => S.t0 + (x / width()) * (S.t1 - S.t0);
  const clampT = (t) => Math.min(duration, Math.max(0, t));

  function setView(t0, t1) {
    const span = Math.min(duration, Math.max(0.2, t1 - t0));
    t0 = Math.min(Math.max(0, t0), duration - span);
    S.t0 = t0; S.t1 = t0 + span;
    const room = duration - span;
    scroll.disabled = room <= 0;
    scroll.value = room > 0 ? String(Math.round((S.t0 / room) * 1000)) : "0";
    draw();
    // tell Python the view (debounced) so it can send a finer picture of it
    if (S.viewTimer) clearTimeout(S.viewTimer);
    S.viewTimer = setTimeout(() => {
      const v = { t0: +S.t0.toFixed(3), t1: +S.t1.toFixed(3) };
      const same = S.sentView && S.sentView.t0 === v.t0 && S.sentView.t1 === v.t1;
      if (!same && S.setState) { S.sentView = v; S.setState("view", v); }
    }, 300);
  }
  const zoom = (f, at) => {
    const c = at === undefined ? (S.t0 + S.t1) / 2 : at;
    setView(c - (c - S.t0) * f, c + (S.t1 - c) * f);
  };

  function draw() {
    const w = width(), h = WAVE_H + SPEC_H + AXIS_H, dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
      canvas.style.height = h + "px";
    }
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    g.fillStyle = "#f4f4f6"; g.fillRect(0, 0, w, WAVE_H);
    // waveform envelope: one vertical line per pixel column (min..max of its bins)
    const useDet = det && det.t0 <= S.t0 + 1e-6 && det.t1 >= S.t1 - 1e-6;
    const eMin = useDet ? det.env_min : envMin, eMax = useDet ? det.env_max : envMax;
    const e0 = useDet ? det.t0 : 0, eSpan = useDet ? det.t1 - det.t0 : duration;
    root.dataset.detail = useDet ? "1" : "0";
    root.dataset.overview = S.img ? "1" : "0";
    const n = eMin.length;
    if (n) {
      g.strokeStyle = "#3b6ea8"; g.beginPath();
      const mid = WAVE_H / 2, amp = WAVE_H / 2 - 4;
      for (let x = 0; x < w; x++) {
        const a = Math.floor(((tOf(x) - e0) / eSpan) * n), b = Math.max(a + 1, Math.floor(((tOf(x + 1) - e0) / eSpan) * n));
        if (a >= n || b <= 0) continue;
        let lo = 1, hi = -1;
        for (let i = Math.max(0, a); i < Math.min(n, b); i++) { lo = Math.min(lo, eMin[i]); hi = Math.max(hi, eMax[i]); }
        g.moveTo(x + 0.5, mid - hi * amp); g.lineTo(x + 0.5, mid - lo * amp + 1);
      }
      g.stroke();
    }
    // spectrogram: the visible part of the whole-recording image
    const dImg = useDet && S.detailImg && S.detailImg.complete && S.detailImg.naturalWidth ? S.detailImg : null;
    const img = dImg || S.img;
    if (img && img.complete && img.naturalWidth) {
      const i0 = dImg ? det.t0 : 0, iSpan = dImg ? det.t1 - det.t0 : duration;
      const iw = img.naturalWidth, ih = img.naturalHeight;
      const sx = ((S.t0 - i0) / iSpan) * iw, sw = Math.max(1e-3, ((S.t1 - S.t0) / iSpan) * iw);
      g.imageSmoothingEnabled = sw < w;
      g.drawImage(img, sx, 0, sw, ih, 0, WAVE_H, w, SPEC_H);
    } else {
      g.fillStyle = "#222"; g.fillRect(0, WAVE_H, w, SPEC_H);
    }
    // time axis
    g.fillStyle = "#fff"; g.fillRect(0, WAVE_H + SPEC_H, w, AXIS_H);
    g.fillStyle = "#333"; g.strokeStyle = "#333"; g.font = "11px sans-serif";
    const step = niceStep(S.t1 - S.t0, w);
    for (let t = Math.ceil(S.t0 / step) * step; t <= S.t1; t += step) {
      const x = xOf(t);
      g.beginPath(); g.moveTo(x, WAVE_H + SPEC_H); g.lineTo(x, WAVE_H + SPEC_H + 5); g.stroke();
      g.fillText(fmt(t) + " s", x + 2, WAVE_H + SPEC_H + 15);
    }
    // regions
    const shown = S.regions.slice();
    if (S.drag && S.drag.preview) shown.push(S.drag.preview);
    for (const r of shown) {
      const x0 = xOf(r.start), x1 = xOf(r.end);
      if (x1 < 0 || x0 > w) continue;
      const col = colorOf(r.label, labels);
      const sugg = r.suggestion;
      g.globalAlpha = sugg ? 0.15 : 0.28;
      g.fillStyle = col; g.fillRect(x0, 0, x1 - x0, WAVE_H + SPEC_H);
      g.globalAlpha = 1;
      g.lineWidth = r.id === S.selected ? 3 : 1.5;
      g.strokeStyle = r.id === S.selected ? "#ff4b4b" : col;
      g.setLineDash(sugg ? [5, 4] : []);
      g.strokeRect(x0 + 0.5, 0.5, Math.max(1, x1 - x0 - 1), WAVE_H + SPEC_H - 1);
      g.setLineDash([]);
      g.lineWidth = 1;
      g.fillStyle = "#111"; g.font = "bold 12px sans-serif";
      const tag = (r.label || "?") + (sugg ? " (suggested)" : "");
      g.fillText(tag, Math.max(2, x0 + 3), 13);
    }
    const sel = selectedRegion();
    info.textContent = (sel ? `Selected: ${sel.label || "?"} ${fmt(sel.start)}-${fmt(sel.end)} s` +
      (sel.suggestion ? ` (suggested by ${sel.by}; Enter accepts)` : "") + " · " : "") +
      `view ${fmt(S.t0)}-${fmt(S.t1)} s of ${fmt(duration)} s · ${S.regions.length} region(s)`;
    root.dataset.regions = String(S.regions.length);
    root.dataset.summary = S.regions.map((r) => `${r.label}@${r.start.toFixed(3)}-${r.end.toFixed(3)}`).join(";");
    root.dataset.selected = sel ? String(sel.id) : "";
    root.dataset.view = `${S.t0.toFixed(3)},${S.t1.toFixed(3)}`;
    for (const b of root.querySelectorAll("button[data-act]")) {
      const act = b.dataset.act;
      if (act === "relabel" || act === "play" || act === "delete") b.disabled = !sel;
      if (act === "accept") b.disabled = !(sel && sel.suggestion);
    }
  }

  function hit(x) {
    // the selected region first, then the shortest one under x (edges within EDGE_PX)
    const order = S.regions.slice().sort((a, b) => (b.id === S.selected) - (a.id === S.selected) || (a.end - a.start) - (b.end - b.start));
    for (const r of order) {
      const x0 = xOf(r.start), x1 = xOf(r.end);
      if (Math.abs(x - x0) <= EDGE_PX) return { r, mode: "left" };
      if (Math.abs(x - x1) <= EDGE_PX) return { r, mode: "right" };
      if (x > x0 && x < x1) return { r, mode: "move" };
    }
    return null;
  }
  const localX = (ev) => ev.clientX - canvas.getBoundingClientRect().left;

  canvas.onmousedown = (ev) => {
    if (ev.button !== 0) return;
    canvas.focus();
    const x = localX(ev), h = hit(x);
    S.drag = { x0: x, t0: tOf(x), mode: h ? h.mode : "create", r: h ? h.r : null, moved: false, preview: null };
    ev.preventDefault();
  };
  canvas.onmousemove = (ev) => {
    const x = localX(ev);
    if (!S.drag) {
      const h = hit(x);
      canvas.style.cursor = h ? (h.mode === "move" ? "grab" : "ew-resize") : "crosshair";
      return;
    }
    const d = S.drag;
    if (Math.abs(x - d.x0) >= DRAG_PX) d.moved = true;
    if (!d.moved) return;
    const t = clampT(tOf(x));
    if (d.mode === "create") {
      d.preview = { id: -1, start: Math.min(d.t0, t), end: Math.max(d.t0, t), label: labelInput.value.trim() };
    } else if (d.mode === "move") {
      const len = d.r.end - d.r.start;
      let s = d.r.start + (tOf(x) - d.t0);
      s = Math.min(Math.max(0, s), duration - len);
      d.preview = { ...d.r, id: -2, start: s, end: s + len };
    } else if (d.mode === "left") {
      d.preview = { ...d.r, id: -2, start: Math.min(t, d.r.end), end: d.r.end };
    } else {
      d.preview = { ...d.r, id: -2, start: d.r.start, end: Math.max(t, d.r.start) };
    }
    draw();
  };
  const finish = (ev) => {
    const d = S.drag;
    if (!d) return;
    S.drag = null;
    if (!d.moved || !d.preview) {
      S.selected = d.r ? d.r.id : null;
      if (d.r && d.r.label) labelInput.value = d.r.label;
      draw();
      return;
    }
    const p = d.preview;
    const start = +p.start.toFixed(3), end = +p.end.toFixed(3);
    if (d.mode === "create") {
      send({ op: "add", start, end, label: labelInput.value });
      S.regions.push({ ...p, id: -1 });  // drawn until Python answers
    } else {
      send({ op: "move", id: d.r.id, start, end });
      Object.assign(d.r, { start, end });
      S.selected = d.r.id;
    }
    draw();
  };
  canvas.onmouseup = finish;
  canvas.onmouseleave = (ev) => { if (S.drag) finish(ev); };
  canvas.onwheel = (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) {
      ev.preventDefault();
      zoom(ev.deltaY > 0 ? 1.25 : 0.8, tOf(localX(ev)));
    } else if (Math.abs(ev.deltaX) > Math.abs(ev.deltaY) || ev.shiftKey) {
      ev.preventDefault();
      const dt = ((ev.shiftKey ? ev.deltaY : ev.deltaX) / width()) * (S.t1 - S.t0);
      setView(S.t0 + dt, S.t1 + dt);
    }
  };
  scroll.oninput = () => {
    const span = S.t1 - S.t0, room = duration - span;
    const t0 = (Number(scroll.value) / 1000) * room;
    setView(t0, t0 + span);
  };

  const act = (what) => {
    const sel = selectedRegion();
    if (what === "zoomin") return zoom(0.5);
    if (what === "zoomout") return zoom(2);
    if (what === "fit") return setView(0, duration);
    if (!sel) return;
    if (what === "delete") {
      send({ op: "delete", id: sel.id });
      S.regions = S.regions.filter((g) => g.id !== sel.id);
      S.selected = null;
      draw();
    } else if (what === "accept" && sel.suggestion) {
      send({ op: "accept", id: sel.id });
    } else if (what === "relabel") {
      send({ op: "relabel", id: sel.id, label: labelInput.value });
    } else if (what === "play") {
      if (S.trigger) S.trigger("play", { id: sel.id, start: sel.start, end: sel.end, nonce: Math.random().toString(36).slice(2) });
    }
  };
  for (const b of root.querySelectorAll("button[data-act]")) b.onclick = () => act(b.dataset.act);
  canvas.onkeydown = (ev) => {
    const k = ev.key;
    if (k === "Delete" || k === "Backspace") act("delete");
    else if (k === "Enter" || k === "a") act("accept");
    else if (k === " ") act("play");
    else if (k === "+" || k === "=") act("zoomin");
    else if (k === "-") act("zoomout");
    else if (k === "ArrowLeft" || k === "ArrowRight") {
      const dt = (k === "ArrowLeft" ? -0.25 : 0.25) * (S.t1 - S.t0);
      setView(S.t0 + dt, S.t1 + dt);
    } else if (k === "Escape") { S.selected = null; draw(); }
    else return;
    ev.preventDefault();
  };
  labelInput.onkeydown = (ev) => { if (ev.key === "Enter") { ev.preventDefault(); act("relabel"); } };

  // a region's audio, sent by Python after a "play" trigger
  if (cfg.clip && cfg.clip.nonce !== S.clipNonce) {
    S.clipNonce = cfg.clip.nonce;
    audio.src = cfg.clip.url;
    audio.dataset.region = String(cfg.clip.id);
    audio.dataset.seconds = String(cfg.clip.seconds);
    const p = audio.play();
    if (p && p.catch) p.catch(() => { /* no audio output (headless): the element still holds the clip */ });
  }

  S.draw = draw;
  if (!S.resize) {
    S.resize = new ResizeObserver(() => S.draw && S.draw());
    S.resize.observe(canvas);
  }
  setView(S.t0, S.t1);
  return () => { if (S.resize) { S.resize.disconnect(); S.resize = null; } };
}
