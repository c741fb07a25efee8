// Small DOM helpers. Everything the console shows is built with
// createElement and textContent: object names, metadata and object bodies
// come from other people and must never be parsed as markup.

export const $ = (sel, root = document) => root.querySelector(sel);

// h("button", {type: "button", onclick: f, class: "x"}, "text", child...)
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function bytes(n) {
  if (n === undefined || n === null) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? String(v) : v.toFixed(v < 10 ? 1 : 0)) + " " + units[i];
}

export function when(s) {
  if (!s) return "";
  const d = new Date(s);
  return isNaN(d) ? String(s) : d.toLocaleString();
}

let statusTimer;
// say puts a short message in the polite live region (screen readers read
// it without moving focus); it fades after a while.
export function say(msg) {
  const el = $("#status");
  el.textContent = msg;
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => { if (el.textContent === msg) el.textContent = ""; }, 8000);
}

// fail shows an error in the assertive region until the next action.
export function fail(err) {
  const el = $("#alert");
  el.textContent = err && err.message ? err.message : String(err);
  if (err && err.code) el.dataset.code = err.code; else delete el.dataset.code;
  el.hidden = false;
}

export function unfail() {
  const el = $("#alert");
  el.hidden = true;
  el.textContent = "";
  delete el.dataset.code;
}

export async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    say("Copied to the clipboard.");
  } catch {
    // No clipboard permission (plain http, headless): select the text so
    // Ctrl+C works.
    const target = button && button.previousElementSibling;
    if (target && target.select) { target.focus(); target.select(); }
    say("Select the text and copy it with Ctrl+C.");
  }
}

// dialog opens the page's one <dialog> with a title and body nodes;
// showModal traps focus and Escape closes it.
export function dialog(title, ...body) {
  const dlg = $("#dlg");
  $("#dlg-title").textContent = title;
  clear($("#dlg-body")).append(...body);
  if (!dlg.open) dlg.showModal();
  return dlg;
}

export function closeDialog() {
  const dlg = $("#dlg");
  if (dlg.open) dlg.close();
}

// ask is confirm() in the page's own dialog (keyboard and screen reader
// friendly, and scriptable by the browser tests): resolves true on OK.
export function ask(title, text, okLabel = "OK") {
  return new Promise((resolve) => {
    const ok = h("button", { type: "button", class: "danger", id: "ask-ok" }, okLabel);
    const cancel = h("button", { type: "button", class: "secondary", id: "ask-cancel" }, "Cancel");
    let answer = false;
    const dlg = dialog(title, h("p", {}, text), h("div", { class: "dlg-actions" }, cancel, ok));
    ok.addEventListener("click", () => { answer = true; dlg.close(); });
    cancel.addEventListener("click", () => dlg.close());
    dlg.addEventListener("close", () => resolve(answer), { once: true });
    ok.focus();
  });
}
