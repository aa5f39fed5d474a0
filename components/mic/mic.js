// soundkit microphone capture: a Streamlit components.v2 module (plain JS, no build step).
//
// Captures the microphone with the Web Audio API, brings it to the model's sample rate in the
// browser (an AudioContext opened at that rate, else a decimating resampler here), cuts it into
// chunks of `data.chunk` seconds of 16-bit PCM and hands them to Python with setStateValue("audio"),
// which travels over Streamlit's own websocket: no WebRTC, no TURN server.
//
// Chunks carry a sequence number and stay queued until Python acknowledges them (`data.ack`), so a
// rerun that Streamlit interrupts loses no audio. The capture lives in window.__soundkitMic, keyed by
// `data.id`, so that the module being called again on a rerun does not restart the microphone.
// `data.chime` (a counter) plays a short chime when it grows: the page's alert sound.

function toBase64(int16) {
  const bytes = new Uint8Array(int16.buffer, int16.byteOffset, int16.byteLength);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function makeResampler(inRate, outRate) {
  // Boxcar low-pass and decimation by a fractional ratio (downsampling), or linear interpolation.
  const ratio = inRate / outRate;
  let acc = 0, cnt = 0, t = 0, last = 0, frac = 0;
  return (x) => {
    const out = [];
    if (ratio >= 1) {
      for (let i = 0; i < x.length; i++) {
        acc += x[i]; cnt += 1; t += 1;
        if (t >= ratio) { out.push(acc / cnt); acc = 0; cnt = 0; t -= ratio; }
      }
    } else {
      for (let i = 0; i < x.length; i++) {
        const cur = x[i];
        while (frac < 1) { out.push(last + (cur - last) * frac); frac += ratio; }
        frac -= 1; last = cur;
      }
    }
    return out;
  };
}

function beep() {
  try {
    const ctx = new (window.AudioContext || window.webkitAudioContext)();
    [880, 1320].forEach((f, i) => {
      const o = ctx.createOscillator(), g = ctx.createGain();
      o.frequency.value = f; o.connect(g); g.connect(ctx.destination);
      const t0 = ctx.currentTime + i * 0.18;
      g.gain.setValueAtTime(0.0001, t0);
      g.gain.exponentialRampToValueAtTime(0.25, t0 + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, t0 + 0.16);
      o.start(t0); o.stop(t0 + 0.17);
    });
    setTimeout(() => ctx.close(), 800);
  } catch (e) { /* no audio output: the toast is enough */ }
}

export default function (component) {
  const { data, setStateValue, parentElement } = component;
  const cfg = data || {};
  const id = cfg.id || "mic";
  const reg = (window.__soundkitMic = window.__soundkitMic || {});
  const st = reg[id] || (reg[id] = { running: false, seq: 0, queue: [], pending: [], chimes: 0, status: "" });
  st.setStateValue = setStateValue;
  st.sr = cfg.sr || 16000;
  st.chunk = cfg.chunk || 0.5;
  st.maxQueue = cfg.max_queue || 60;
  if (st.stopTimer) { clearTimeout(st.stopTimer); st.stopTimer = null; }
  if (typeof cfg.ack === "number" && cfg.session === st.session) {
    st.queue = st.queue.filter((c) => c.seq > cfg.ack);
  }
  if (typeof cfg.chime === "number") {
    if (st.chimes !== undefined && cfg.chime > st.chimes && st.running) beep();
    st.chimes = cfg.chime;
  }

  let root = parentElement.querySelector(".skmic");
  if (!root) {
    root = document.createElement("div");
    root.className = "skmic";
    root.innerHTML = '<button type="button" class="skmic-btn"></button> <span class="skmic-status"></span>';
    parentElement.appendChild(root);
  }
  const btn = root.querySelector("button");
  const status = root.querySelector(".skmic-status");

  const render = () => {
    btn.textContent = st.running ? "Stop listening" : "Start listening";
    btn.dataset.running = st.running ? "true" : "false";
    status.textContent = st.status || "";
  };

  const publish = () => {
    if (!st.setStateValue) return;
    st.setStateValue("audio", { session: st.session || null, running: st.running, sr: st.sr,
                                chunks: st.queue.slice(), error: st.error || null });
  };

  const flushChunk = () => {
    const n = Math.round(st.sr * st.chunk);
    while (st.pending.length >= n) {
      const part = st.pending.splice(0, n);
      const pcm = new Int16Array(n);
      for (let i = 0; i < n; i++) {
        const v = Math.max(-1, Math.min(1, part[i]));
        pcm[i] = v < 0 ? v * 32768 : v * 32767;
      }
      st.queue.push({ seq: st.seq++, n: n, pcm: toBase64(pcm), t: Date.now() });
      if (st.queue.length > st.maxQueue) st.queue.splice(0, st.queue.length - st.maxQueue);
      publish();
    }
  };

  const start = async () => {
    if (st.running) return;
    st.error = null;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
      let ctx;
      try { ctx = new AudioContext({ sampleRate: st.sr }); } catch (e) { ctx = new AudioContext(); }
      let source;
      try { source = ctx.createMediaStreamSource(stream); } catch (e) {
        ctx.close(); ctx = new AudioContext(); source = ctx.createMediaStreamSource(stream);
      }
      const resample = ctx.sampleRate === st.sr ? null : makeResampler(ctx.sampleRate, st.sr);
      const proc = ctx.createScriptProcessor(4096, 1, 1);
      proc.onaudioprocess = (ev) => {
        if (!st.running) return;
        const x = ev.inputBuffer.getChannelData(0);
        const y = resample ? resample(x) : x;
        for (let i = 0; i < y.length; i++) st.pending.push(y[i]);
        flushChunk();
      };
      source.connect(proc);
      proc.connect(ctx.destination);
      Object.assign(st, { stream, ctx, proc, source, running: true, pending: [], queue: [], seq: 0, t0: Date.now(),
                          session: Math.random().toString(36).slice(2),
                          status: `listening (${st.sr} Hz${resample ? ", resampled here from " + ctx.sampleRate : ""})` });
    } catch (e) {
      st.error = String((e && e.message) || e);
      st.status = "microphone unavailable: " + st.error;
    }
    render();
    publish();
  };

  const stop = () => {
    if (st.proc) { st.proc.onaudioprocess = null; try { st.proc.disconnect(); } catch (e) {} }
    if (st.source) { try { st.source.disconnect(); } catch (e) {} }
    if (st.stream) st.stream.getTracks().forEach((tr) => tr.stop());
    if (st.ctx) { try { st.ctx.close(); } catch (e) {} }
    Object.assign(st, { running: false, proc: null, source: null, stream: null, ctx: null, status: "stopped" });
    render();
    publish();
  };

  btn.onclick = () => (st.running ? stop() : start());
  render();
  return () => {
    // unmounted (another page): stop unless the module is mounted again at once (a rerun)
    st.stopTimer = setTimeout(stop, 1500);
  };
}
