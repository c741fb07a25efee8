// The object browser: one bucket, one folder (prefix) at a time, one page
// of at most PAGE keys at a time (a bucket of a million keys is never
// listed whole), kept current by the server's change feed.

import { api, bucketPath, enc, downloadURL, sessionEnded } from "./api.js";
import { $, h, clear, bytes, when, say, fail, unfail, copy, dialog, closeDialog, ask } from "./dom.js";
import { Uploader, filesFromDrop, filesFromInput, pendingUploads, abortPending } from "./upload.js";

const PAGE = 200;
// What the server previews (console/API.md); anything else is download only.
const IMAGE = /^image\/(png|jpeg|gif|webp)$/;
const TEXT = /^(text\/(plain|markdown|csv)|application\/json)$/;

export class Browser {
  constructor(getSession) {
    this.session = getSession;
    this.bucket = "";
    this.prefix = "";
    this.search = "";
    this.pages = [""]; // the `after` of each page visited, for Previous
    this.page = 0;
    this.selected = new Set();
    this.events = null;
    this.refreshTimer = 0;
    this.uploader = new Uploader($("#uploads"), () => { this.renderPending(); this.refresh(); });
    this.wire();
  }

  wire() {
    $("#search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.search = $("#search-input").value;
      this.resetPages();
      this.refresh();
    });
    $("#search-clear").addEventListener("click", () => {
      $("#search-input").value = "";
      this.search = "";
      this.resetPages();
      this.refresh();
    });
    $("#page-next").addEventListener("click", () => {
      this.page++;
      this.refresh().then(() => $("#object-table").focus?.());
    });
    $("#page-prev").addEventListener("click", () => { this.page = Math.max(0, this.page - 1); this.refresh(); });
    $("#page-first").addEventListener("click", () => { this.page = 0; this.refresh(); });
    $("#select-all").addEventListener("change", (e) => {
      for (const box of document.querySelectorAll("#object-table tbody input[type=checkbox]")) {
        box.checked = e.target.checked;
        this.toggle(box.dataset.key, box.checked);
      }
    });
    $("#delete-selected").addEventListener("click", () => this.deleteKeys([...this.selected]));
    const input = $("#file-input"), folder = $("#folder-input");
    for (const el of [input, folder]) {
      el.addEventListener("change", () => {
        const files = filesFromInput(el);
        el.value = "";
        this.upload(files);
      });
    }
    const zone = $("#dropzone");
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", async (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      try { this.upload(await filesFromDrop(e.dataTransfer)); } catch (err) { fail(err); }
    });
  }

  upload(files) {
    if (!files.length) return;
    unfail();
    this.uploader.add(this.bucket, this.prefix, files);
  }

  resetPages() {
    this.pages = [""];
    this.page = 0;
  }

  async open(bucket, prefix) {
    if (bucket !== this.bucket || prefix !== this.prefix) {
      this.bucket = bucket;
      this.prefix = prefix;
      this.search = "";
      $("#search-input").value = "";
      this.resetPages();
      this.selected.clear();
      this.listen();
    } else if (!this.events) {
      this.listen();
    }
    $("#browser-bucket").textContent = bucket;
    $("#readonly-note").hidden = !this.session()?.key.read_only;
    this.crumbs();
    this.renderPending();
    await this.refresh();
  }

  // stop is called when the page leaves the browser view or signs out: a
  // change that arrived just before must not list (perhaps with a session
  // that is gone) behind the page's back.
  stop() {
    if (this.events) this.events.close();
    this.events = null;
    clearTimeout(this.refreshTimer);
    this.seq = (this.seq || 0) + 1; // answers still on their way are dropped
    $("#live").classList.remove("on");
  }

  // listen follows the change feed of this folder: a put or delete through
  // S3, the mount or another console refreshes the page shown.
  listen() {
    this.stop();
    const es = new EventSource("/api/events?bucket=" + enc(this.bucket) + "&prefix=" + enc(this.prefix));
    es.addEventListener("open", () => $("#live").classList.add("on"));
    es.addEventListener("error", () => $("#live").classList.remove("on"));
    const later = () => {
      clearTimeout(this.refreshTimer);
      // A burst (a folder copied into the mount) costs one listing.
      this.refreshTimer = setTimeout(() => this.refresh(), 250);
    };
    es.addEventListener("change", later);
    es.addEventListener("resync", later); // the feed dropped changes: list again
    es.addEventListener("signed-out", () => { this.stop(); sessionEnded(); });
    this.events = es;
  }

  crumbs() {
    const nav = clear($("#crumbs"));
    nav.hidden = this.prefix === ""; // the heading already names the bucket
    const link = (label, prefix, current) => h("a", {
      href: "#/b/" + enc(this.bucket) + "/" + enc(prefix), "aria-current": current ? "page" : null,
    }, label);
    nav.append(link(this.bucket, "", this.prefix === ""));
    let acc = "";
    const parts = this.prefix.split("/").filter(Boolean);
    parts.forEach((p, i) => {
      acc += p + "/";
      nav.append(h("span", { class: "sep", "aria-hidden": "true" }, "/"), link(p, acc, i === parts.length - 1));
    });
  }

  async refresh() {
    // Refreshes overlap (the change feed, an upload, a click): only the
    // latest one's answer is shown.
    if ($("#view-browser").hidden) return; // an upload finished after the user moved on
    const seq = this.seq = (this.seq || 0) + 1;
    const bucket = this.bucket, prefix = this.prefix;
    const q = new URLSearchParams({ prefix: prefix + this.search, max: String(PAGE) });
    if (!this.search) q.set("delimiter", "/");
    if (this.pages[this.page]) q.set("after", this.pages[this.page]);
    let r;
    try {
      r = await api("GET", bucketPath(bucket) + "/objects?" + q);
    } catch (err) {
      if (seq === this.seq) fail(err);
      return;
    }
    if (seq !== this.seq) return; // a later refresh (or a navigation) overtook this one
    this.pages.length = this.page + 1;
    if (r.truncated && r.next) this.pages.push(r.next);
    this.render(r);
  }

  render(r) {
    const body = clear($("#object-table tbody"));
    const ro = !!this.session()?.key.read_only;
    const prefixes = r.prefixes || [], objects = r.objects || [];
    $("#object-empty").hidden = prefixes.length + objects.length > 0;
    $("#search-clear").hidden = !this.search;
    $("#page-next").hidden = !(r.truncated && r.next);
    $("#page-prev").hidden = this.page === 0;
    $("#page-first").hidden = this.page < 2;
    $("#select-all").checked = false;
    const base = this.prefix; // search results are shown relative to the folder too
    const shown = new Set();
    for (const p of prefixes) {
      shown.add(p);
      const name = p.slice(base.length);
      body.append(h("tr", { class: "folder", dataset: { key: p } },
        h("td", {}, this.checkbox(p, ro)),
        h("th", { scope: "row" }, h("a", { href: "#/b/" + enc(this.bucket) + "/" + enc(p), class: "folder-link" }, name)),
        h("td", {}, ""), h("td", {}, ""),
        h("td", { class: "actions" }, ro ? null : this.button("Rename", p, () => this.rename(p)))));
    }
    for (const o of objects) {
      shown.add(o.key);
      const name = o.key.slice(base.length);
      body.append(h("tr", { class: "object", dataset: { key: o.key } },
        h("td", {}, this.checkbox(o.key, ro)),
        h("th", { scope: "row" }, h("button", { type: "button", class: "link name", "aria-label": "Details of " + o.key,
          onclick: () => this.details(o.key) }, name)),
        h("td", { class: "num" }, bytes(o.size)),
        h("td", {}, when(o.modified)),
        h("td", { class: "actions" },
          h("a", { href: downloadURL(this.bucket, o.key), download: o.key.split("/").pop(), class: "button secondary small",
            "aria-label": "Download " + o.key }, "Download"),
          this.button("Share", o.key, () => this.share(o.key)),
          ro ? null : this.button("Rename", o.key, () => this.rename(o.key)),
          ro ? null : this.button("Delete", o.key, () => this.deleteKeys([o.key]), "danger"))));
    }
    for (const k of [...this.selected]) if (!shown.has(k)) this.selected.delete(k);
    this.selectionChanged();
  }

  button(label, key, onclick, cls = "secondary") {
    return h("button", { type: "button", class: cls + " small", "aria-label": label + " " + key, onclick }, label);
  }

  checkbox(key, ro) {
    const box = h("input", { type: "checkbox", "aria-label": "Select " + key, dataset: { key }, disabled: ro });
    box.checked = this.selected.has(key);
    box.addEventListener("change", () => this.toggle(key, box.checked));
    return box;
  }

  toggle(key, on) {
    if (on) this.selected.add(key); else this.selected.delete(key);
    this.selectionChanged();
  }

  selectionChanged() {
    const n = this.selected.size;
    $("#delete-selected").disabled = n === 0;
    $("#selection-count").textContent = n ? n + " selected" : "";
  }

  async deleteKeys(keys) {
    if (!keys.length) return;
    unfail();
    const folders = keys.filter((k) => k.endsWith("/")).length;
    const what = keys.length === 1 ? keys[0] + (folders ? " and everything in it" : "") :
      keys.length + " items" + (folders ? " (folders with everything in them)" : "");
    if (!await ask("Delete", "Delete " + what + "? This cannot be undone.", "Delete")) return;
    try {
      const r = await api("POST", bucketPath(this.bucket) + "/delete", { keys });
      for (const k of r.deleted || []) this.selected.delete(k);
      if ((r.errors || []).length) {
        fail({ message: "Not deleted: " + r.errors.map((e) => e.key + " (" + (e.message || e.code) + ")").join(", "), code: r.errors[0].code });
      } else {
        say("Deleted " + what + ".");
      }
    } catch (err) {
      fail(err);
    }
    await this.refresh();
  }

  rename(from) {
    const input = h("input", { id: "rename-to", spellcheck: "false", autocapitalize: "off", required: true });
    input.value = from;
    const form = h("form", { id: "rename-form" },
      h("label", { for: "rename-to" }, from.endsWith("/") ? "New folder path (everything under it moves)" : "New name (a path with / moves it to that folder)"),
      input,
      h("div", { class: "dlg-actions" }, h("button", { type: "submit", id: "rename-submit" }, "Rename")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      let to = input.value.trim();
      if (from.endsWith("/") && to && !to.endsWith("/")) to += "/";
      if (!to || to === from) return closeDialog();
      try {
        await api("POST", bucketPath(this.bucket) + "/rename", { from, to });
        closeDialog();
        say("Renamed " + from + " to " + to + ".");
      } catch (err) {
        closeDialog();
        fail(err);
      }
      await this.refresh();
    });
    dialog("Rename or move", form);
    input.focus();
    input.setSelectionRange(from.lastIndexOf("/", from.length - 2) + 1, from.length);
  }

  share(key) {
    const expiry = h("select", { id: "share-expiry" },
      h("option", { value: "3600" }, "1 hour"),
      h("option", { value: "86400", selected: true }, "1 day"),
      h("option", { value: "604800" }, "7 days"),
      h("option", { value: "300" }, "5 minutes"));
    const out = h("div", { id: "share-out" });
    const form = h("form", { id: "share-form" },
      h("p", {}, "A link anyone can use to download ", h("code", {}, key), " until it expires; it is signed with your key."),
      h("label", { for: "share-expiry" }, "Expires after"), expiry,
      h("div", { class: "dlg-actions" }, h("button", { type: "submit", id: "share-create" }, "Create link")),
      out);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clear(out);
      try {
        const r = await api("POST", bucketPath(this.bucket) + "/share", { key, expires: Number(expiry.value) });
        const url = h("input", { id: "share-url", readonly: true, spellcheck: "false" });
        url.value = r.url;
        const button = h("button", { type: "button", class: "secondary small", id: "share-copy" }, "Copy");
        button.addEventListener("click", () => copy(r.url, button));
        out.append(h("label", { for: "share-url" }, "Link"), h("div", { class: "copy-row" }, url, button),
          h("p", { class: "muted" }, "Expires " + when(r.expires_at) + "."));
        url.focus();
        url.select();
      } catch (err) {
        out.append(h("p", { class: "error", role: "alert" }, err.message));
      }
    });
    dialog("Share " + key.split("/").pop(), form);
    expiry.focus();
  }

  async details(key) {
    let m;
    try {
      m = await api("GET", bucketPath(this.bucket) + "/meta?key=" + enc(key));
    } catch (err) {
      return fail(err);
    }
    const dl = h("dl", { class: "kv", id: "meta" });
    const row = (k, v) => dl.append(h("dt", {}, k), h("dd", {}, String(v ?? "")));
    row("Key", m.key);
    row("Size", bytes(m.size) + " (" + m.size + " bytes)");
    row("Modified", when(m.modified));
    row("ETag", m.etag);
    row("Content type", m.content_type);
    for (const [k, v] of Object.entries(m.metadata || {})) row("x-amz-meta-" + k, v);
    for (const [k, v] of Object.entries(m.checksums || {})) row("Checksum " + k.toUpperCase(), v);
    const preview = h("div", { class: "preview", id: "preview" });
    const ct = (m.content_type || "").split(";")[0].trim().toLowerCase();
    if (IMAGE.test(ct)) {
      preview.append(h("img", { src: downloadURL(this.bucket, key, true), alt: "Preview of " + key }));
    } else if (TEXT.test(ct)) {
      const pre = h("pre", {}, "loading…");
      preview.append(pre);
      this.previewText(key, pre);
    } else {
      preview.append(h("p", { class: "muted" }, "No preview for this type; download it instead."));
    }
    const actions = h("div", { class: "dlg-actions" },
      h("a", { href: downloadURL(this.bucket, key), download: key.split("/").pop(), class: "button" }, "Download"),
      h("button", { type: "button", class: "secondary", onclick: () => this.share(key) }, "Share"));
    dialog(key.split("/").pop(), dl, preview, actions);
  }

  // previewText shows at most the first 256 KiB, as text: textContent, so
  // an HTML file shows its source and never runs.
  async previewText(key, pre) {
    try {
      const res = await fetch(downloadURL(this.bucket, key, true), { credentials: "same-origin" });
      const cut = res.headers.get("X-Preview-Truncated") === "true";
      if (!res.ok) throw new Error(res.status === 415 ? "No preview for this type." : res.status + " " + res.statusText);
      const reader = res.body.getReader();
      const chunks = [];
      let n = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        n += value.length;
        if (n >= 256 * 1024) { reader.cancel(); break; }
      }
      const text = new TextDecoder().decode(await new Blob(chunks).arrayBuffer());
      pre.textContent = cut || n >= 256 * 1024 ? text + "\n… (only the beginning is shown; download it for the rest)" : text;
    } catch (err) {
      pre.textContent = "Preview failed: " + err.message;
    }
  }

  renderPending() {
    const mine = pendingUploads().filter((e) => e.bucket === this.bucket);
    const list = clear($("#pending-list"));
    $("#pending").hidden = mine.length === 0;
    for (const e of mine) {
      const abort = h("button", { type: "button", class: "secondary small", "aria-label": "Abandon the upload of " + e.key }, "Abandon");
      abort.addEventListener("click", async () => {
        try { await abortPending(e); say("Abandoned the upload of " + e.key + "."); } catch (err) { fail(err); }
        this.renderPending();
      });
      list.append(h("li", {}, h("code", {}, e.key), " — " + e.name + ", " + bytes(e.size) + ", started " + when(e.started) + " ", abort));
    }
  }
}
