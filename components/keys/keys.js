// soundkit labeling keys: a Streamlit components.v2 module (plain JS, no build step).
//
// While the clip-by-clip flow is on the page, listens on the document for
//   1-9          pick a class            ("1" .. "9")
//   ArrowLeft    previous clip           ("prev")
//   ArrowRight   next clip               ("next")
//   u, Ctrl+Z    undo the last label     ("undo")
//   Space        play / pause the clip   (handled here: the <audio> inside `data.player`, no rerun)
// Keys typed into a text field, a number field or a select are left alone.
//
// Keys go to Python as the state value "pressed" = {session, keys: [{seq, key}, ...]}: every key not
// yet acknowledged (`data.ack`), so a rerun that Streamlit interrupts loses no key and a key is never
// applied twice. The registry lives in window.__soundkitKeys so that the module being called again on
// a rerun keeps its queue and its one listener.

const TYPING = new Set(["text", "search", "number", "password", "email", "url", "tel"]);

function typingInto(el) {
  if (!el || !el.tagName) return false;
  const tag = el.tagName.toLowerCase();
  if (tag === "textarea" || tag === "select" || el.isContentEditable) return true;
  if (el.getAttribute && el.getAttribute("role") === "combobox") return true;
  return tag === "input" && TYPING.has((el.type || "text").toLowerCase());
}

function action(ev) {
  const k = ev.key;
  if ((ev.ctrlKey || ev.metaKey) && !ev.altKey && (k === "z" || k === "Z")) return "undo";
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return null;
  if (k >= "1" && k <= "9" && k.length === 1) return k;
  if (k === "ArrowRight") return "next";
  if (k === "ArrowLeft") return "prev";
  if (k === "u" || k === "U") return "undo";
  if (k === " " || k === "Spacebar") return "play";
  return null;
}

export default function (component) {
  const { data, setStateValue, parentElement } = component;
  const cfg = data || {};
  const reg = (window.__soundkitKeys = window.__soundkitKeys ||
    { seq: 0, queue: [], session: Math.random().toString(36).slice(2) });
  reg.setStateValue = setStateValue;
  reg.player = cfg.player || "";
  if (typeof cfg.ack === "number" && cfg.session === reg.session) {
    reg.queue = reg.queue.filter((e) => e.seq > cfg.ack);
  }

  let status = parentElement.querySelector(".skkeys");
  if (!status) {
    status = document.createElement("div");
    status.className = "skkeys";
    status.style.fontSize = "0.8rem";
    status.style.opacity = "0.7";
    parentElement.appendChild(status);
  }
  reg.status = status;
  status.textContent = "Keyboard on: 1-9 label, Space play/pause, \u2190 \u2192 move, U or Ctrl+Z undo.";

  const publish = () => {
    if (reg.setStateValue) reg.setStateValue("pressed", { session: reg.session, keys: reg.queue.slice() });
  };

  const toggle = () => {
    const audio = reg.player ? document.querySelector(reg.player + " audio") : null;
    if (!audio) return;
    if (audio.paused) {
      const p = audio.play();
      if (p && p.catch) p.catch((e) => { if (reg.status) reg.status.textContent = "cannot play: " + e; });
    } else {
      audio.pause();
    }
  };

  if (!reg.listener) {
    reg.listener = (ev) => {
      if (ev.defaultPrevented && ev.key !== " ") return;
      if (typingInto(ev.target)) return;
      const what = action(ev);
      if (!what) return;
      ev.preventDefault();
      ev.stopPropagation();
      if (ev.repeat && what !== "next" && what !== "prev") return; // a held key labels once
      if (what === "play") { toggle(); return; }
      reg.queue.push({ seq: reg.seq++, key: what });
      publish();
    };
    document.addEventListener("keydown", reg.listener, true);
  }

  return () => {
    // unmounted (the flow was turned off, another page): stop listening unless mounted again at once
    const mine = reg.listener;
    setTimeout(() => {
      if (reg.listener === mine && !document.body.contains(reg.status)) {
        document.removeEventListener("keydown", mine, true);
        reg.listener = null;
      }
    }, 500);
  };
}
