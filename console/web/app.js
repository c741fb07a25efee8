// The console's entry point: the session, the hash router (#/buckets,
// #/b/{bucket}/{prefix}, #/keys, #/store) and the bucket, key and store
// pages. The object browser is in browser.js, uploads in upload.js.

import { api, setCSRF, onUnauthenticated, bucketPath, enc } from "./api.js";
import { $, h, clear, bytes, when, say, fail, unfail, copy, dialog, ask } from "./dom.js";
import { Browser } from "./browser.js";

let session = null;
let browser = null;

const views = ["signin", "buckets", "browser", "keys", "store"];

function show(name) {
  for (const v of views) $("#view-" + v).hidden = v !== name;
  for (const a of document.querySelectorAll("#nav a")) {
    const current = a.id === "nav-" + name || (name === "browser" && a.id === "nav-buckets");
    if (current) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  if (name !== "browser" && browser) browser.stop();
}

function signedIn(s) {
  session = s;
  setCSRF(s.csrf);
  $("#nav").hidden = false;
  // Keys and store-wide figures are for administrators only.
  $("#nav-keys").hidden = !s.key.admin;
  $("#nav-store").hidden = !s.key.admin;
  $("#signout").hidden = false;
  const role = s.key.admin ? "administrator" : s.key.read_only ? "read-only" : "read-write";
  $("#whoami").textContent = s.key.id + " · " + (s.org.name || s.org.id) + " · " + role;
  document.body.classList.toggle("readonly", !!s.key.read_only);
}

function signedOut() {
  session = null;
  setCSRF("");
  $("#nav").hidden = true;
  $("#signout").hidden = true;
  $("#whoami").textContent = "";
  if (browser) browser.stop();
  show("signin");
  $("#signin-id").focus();
}

onUnauthenticated(() => {
  if (session) fail({ message: "Your session has ended; sign in again." });
  signedOut();
});

async function route() {
  if (!session) return signedOut();
  unfail();
  const hash = location.hash || "#/buckets";
  const m = hash.match(/^#\/b\/([^/]+)\/?(.*)$/);
  try {
    if (m) {
      show("browser");
      browser = browser || new Browser(() => session);
      await browser.open(decodeURIComponent(m[1]), decodeURIComponent(m[2] || ""));
    } else if (hash === "#/keys" && session.key.admin) {
      show("keys");
      await loadKeys();
    } else if (hash === "#/store" && session.key.admin) {
      show("store");
      await loadStore();
    } else {
      show("buckets");
      await loadBuckets();
    }
  } catch (err) {
    fail(err);
  }
}

// ---- sign in / out

$("#signin-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  unfail();
  const button = $("#signin-submit");
  button.disabled = true;
  try {
    const s = await api("POST", "/api/session", {
      access_key_id: $("#signin-id").value.trim(),
      secret: $("#signin-secret").value,
    }, { quiet401: true });
    $("#signin-secret").value = "";
    signedIn(s);
    say("Signed in.");
    if (!location.hash || location.hash === "#/") location.hash = "#/buckets";
    await route();
    $("#main").focus();
  } catch (err) {
    fail(err.status === 401 ? { message: "Wrong access key id or secret.", code: err.code } : err);
  } finally {
    button.disabled = false;
  }
});

$("#signout").addEventListener("click", async () => {
  try { await api("DELETE", "/api/session"); } catch { /* signed out anyway */ }
  // The next person to sign in here starts from the bucket list.
  history.replaceState(null, "", location.pathname);
  signedOut();
  say("Signed out.");
});

// ---- buckets

async function loadBuckets() {
  const { buckets } = await api("GET", "/api/buckets");
  const body = clear($("#bucket-table tbody"));
  $("#bucket-empty").hidden = buckets.length > 0;
  $("#bucket-create").hidden = !!session.key.read_only || (session.key.buckets || []).length > 0;
  for (const b of buckets) {
    const open = h("a", { href: "#/b/" + enc(b.name) + "/", class: "bucket-link" }, b.name);
    const pub = h("td", { class: "public" });
    if (session.key.admin) {
      const box = h("input", { type: "checkbox", checked: !!b.public, "aria-label": "Public read of " + b.name });
      box.addEventListener("change", () => setPublic(b.name, box));
      pub.append(h("label", { class: "switch" }, box, h("span", {}, b.public ? "on" : "off")));
    } else {
      pub.append(b.public ? "on" : "off");
    }
    if (b.public && b.public_url) {
      pub.append(" ", h("a", { href: b.public_url, class: "public-url", rel: "noopener noreferrer", target: "_blank" }, b.public_url));
    }
    const del = h("button", { type: "button", class: "danger small", "aria-label": "Delete bucket " + b.name }, "Delete");
    del.addEventListener("click", () => deleteBucket(b.name));
    del.hidden = !!session.key.read_only;
    body.append(h("tr", { dataset: { bucket: b.name } },
      h("th", { scope: "row" }, open),
      // counted:false: the server stopped counting (a very large bucket).
      h("td", { class: "num" }, String(b.objects ?? "") + (b.counted === false ? "+" : "")),

      h("td", { class: "num" }, bytes(b.bytes) + (b.counted === false ? "+" : "")),
      h("td", {}, when(b.created)),
      pub,
      h("td", { class: "actions" }, del)));
  }
}

async function setPublic(name, box) {
  unfail();
  box.disabled = true;
  try {
    const b = await api("PUT", bucketPath(name) + "/public", { public: box.checked });
    say(b.public ? name + " is public at " + (b.public_url || "its public URL") + "." : name + " is private.");
  } catch (err) {
    box.checked = !box.checked;
    fail(err);
  } finally {
    box.disabled = false;
  }
  await loadBuckets();
}

async function deleteBucket(name) {
  unfail();
  if (!await ask("Delete bucket", "Delete the bucket " + name + "? Only an empty bucket can be deleted.", "Delete")) return;
  try {
    await api("DELETE", bucketPath(name));
    say("Deleted the bucket " + name + ".");
  } catch (err) {
    if (err.code === "BucketNotEmpty") {
      err.message = "The bucket " + name + " is not empty: delete its objects first (open it, select all, Delete selected).";
    }
    fail(err);
  }
  await loadBuckets();
}

$("#bucket-create").addEventListener("submit", async (e) => {
  e.preventDefault();
  unfail();
  const name = $("#bucket-name").value.trim();
  try {
    await api("POST", "/api/buckets", { name });
    $("#bucket-name").value = "";
    say("Created the bucket " + name + ".");
  } catch (err) {
    fail(err);
  }
  await loadBuckets();
});

// ---- keys (administrator)

async function loadKeys() {
  const { keys } = await api("GET", "/api/keys");
  const body = clear($("#key-table tbody"));
  for (const k of keys) {
    const del = h("button", { type: "button", class: "danger small", "aria-label": "Delete key " + k.id }, "Delete");
    del.disabled = k.current || k.id === session.key.id;
    del.title = del.disabled ? "This is the key you are signed in with" : "";
    del.addEventListener("click", async () => {
      if (!await ask("Delete key", "Delete the key " + k.id + "? Clients using it stop working at once.", "Delete")) return;
      try { await api("DELETE", "/api/keys/" + enc(k.id)); say("Deleted the key " + k.id + "."); } catch (err) { fail(err); }
      await loadKeys();
    });
    const access = k.read_only ? "read-only" : k.admin || !(k.buckets || []).length ? "administrator" : "read-write";
    body.append(h("tr", { dataset: { key: k.id } },
      h("th", { scope: "row" }, h("code", {}, k.id)),
      h("td", {}, access),
      h("td", {}, (k.buckets || []).length ? k.buckets.join(", ") : "all"),
      h("td", {}, when(k.created)),
      h("td", { class: "actions" }, del)));
  }
}

$("#key-create").addEventListener("submit", async (e) => {
  e.preventDefault();
  unfail();
  const buckets = $("#key-buckets").value.split(",").map((s) => s.trim()).filter(Boolean);
  try {
    const k = await api("POST", "/api/keys", { read_only: $("#key-readonly").checked, buckets });
    $("#key-buckets").value = "";
    $("#key-readonly").checked = false;
    showNewKey(k);
  } catch (err) {
    fail(err);
  }
  await loadKeys();
});

function copyField(label, value, id, multiline) {
  const field = multiline
    ? h("textarea", { id, readonly: true, rows: String(Math.min(12, value.split("\n").length + 1)), spellcheck: "false" })
    : h("input", { id, readonly: true, spellcheck: "false" });
  field.value = value;
  const button = h("button", { type: "button", class: "secondary small" }, "Copy");
  button.addEventListener("click", () => copy(value, button));
  return h("div", { class: "copy-field" }, h("label", { for: id }, label), h("div", { class: "copy-row" }, field, button));
}

function showNewKey(k) {
  const parts = [
    h("p", { class: "warn" }, "The secret is shown only now. Copy it; it cannot be shown again."),
    copyField("Access key id", k.id, "newkey-id"),
    copyField("Secret", k.secret, "newkey-secret"),
  ];
  const snippets = k.snippets || {};
  for (const [name, text] of Object.entries(snippets)) {
    parts.push(copyField("Client configuration: " + name, text, "newkey-snippet-" + name, true));
  }
  dialog("New access key", ...parts);
}

// ---- store

async function loadStore() {
  const s = await api("GET", "/api/store");
  const cards = clear($("#store-cards"));
  const card = (label, value, note) => h("div", { class: "card stat" },
    h("div", { class: "stat-label" }, label), h("div", { class: "stat-value" }, value), note ? h("div", { class: "muted" }, note) : null);
  const used = Number(s.used_bytes || 0), free = Number(s.free_bytes || 0);
  const meter = h("meter", { min: "0", max: String(used + free || 1), value: String(used), "aria-label": "Disk used" });
  cards.append(
    h("div", { class: "card stat" }, h("div", { class: "stat-label" }, "Used / free"),
      h("div", { class: "stat-value" }, bytes(used) + " / " + bytes(free)), meter),
    card("Stored data (logical)", bytes(s.logical_bytes)),
    card("Saved by deduplication", bytes(s.dedup_saved_bytes),
      s.logical_bytes ? Math.round(100 * Number(s.dedup_saved_bytes || 0) / Number(s.logical_bytes)) + "% of the logical size" : ""),
    card("Version", String(s.version || "")));
  const gc = s.gc || {};
  kv($("#store-gc"), {
    ...(gc.interval_seconds !== undefined ? { every: gc.interval_seconds ? gc.interval_seconds + " s" : "off (exc gc runs it)" } : {}),
    ...lastRun(gc.last),
  });
  kv($("#store-scrub"), lastRun((s.scrub || {}).last));
}

// lastRun flattens the "last" record of a GC or scrub run; null means it
// has not run since excd started.
function lastRun(last) {
  if (!last) return { "last run": "none since excd started" };
  const out = { "last run": when(last.at) };
  for (const [k, v] of Object.entries(last)) if (k !== "at") out[k] = v;
  return out;
}

function kv(dl, obj) {
  clear(dl);
  if (!obj || typeof obj !== "object" || !Object.keys(obj).length) {
    dl.append(h("dt", {}, "status"), h("dd", {}, "no run yet"));
    return;
  }
  for (const [k, v] of Object.entries(obj)) {
    let text = v;
    if (v && typeof v === "object") text = JSON.stringify(v);
    else if (/bytes/.test(k) && typeof v === "number") text = bytes(v);
    else if (/(^|_)(at|time|started|finished|last)($|_)/.test(k) && typeof v === "string") text = when(v);
    dl.append(h("dt", {}, k.replaceAll("_", " ")), h("dd", {}, String(text ?? "")));
  }
}

// ---- start

window.addEventListener("hashchange", route);

(async () => {
  try {
    signedIn(await api("GET", "/api/session", undefined, { quiet401: true }));
    await route();
  } catch {
    signedOut();
  }
  document.body.dataset.ready = "1";
})();
