// Uploads: one PUT for small files, multipart in 8 MiB parts for large
// ones. A multipart upload survives a page reload: its id, bucket, key and
// the file's name, size and lastModified are kept in localStorage, and
// when the same file is dropped again the parts the server already has are
// listed and only the missing ones are sent. Cancel aborts the upload on
// the server so no parts are left behind.

import { api, bucketPath, enc, xhrPut, ApiError } from "./api.js";
import { h, bytes, say, fail } from "./dom.js";

export const PART_SIZE = 8 * 1024 * 1024;
// The API takes a single PUT up to 16 MiB; above that, multipart.
export const SINGLE_PUT_MAX = 16 * 1024 * 1024;
const STORE = "exc-console-uploads";

export function pendingUploads() {
  try {
    const v = JSON.parse(localStorage.getItem(STORE) || "[]");
    return Array.isArray(v) ? v : [];
  } catch {
    return [];
  }
}

function savePending(list) {
  localStorage.setItem(STORE, JSON.stringify(list));
}

function samePending(a, b) {
  return a.bucket === b.bucket && a.key === b.key && a.name === b.name &&
    a.size === b.size && a.lastModified === b.lastModified;
}

function rememberPending(entry) {
  savePending(pendingUploads().filter((e) => !samePending(e, entry)).concat([entry]));
}

function forgetPending(entry) {
  savePending(pendingUploads().filter((e) => e.uploadId !== entry.uploadId));
}

// abortPending cancels an upload left by an earlier page (the user no
// longer has, or no longer wants, the file).
export async function abortPending(entry) {
  try {
    await api("DELETE", uploadPath(entry.bucket, entry.uploadId) + "?key=" + enc(entry.key));
  } catch (err) {
    if (err.code !== "NoSuchUpload" && err.status !== 404) throw err;
  }
  forgetPending(entry);
}

const uploadPath = (bucket, id) => bucketPath(bucket) + "/uploads/" + enc(id);

// filesFromDrop walks dropped folders (webkitGetAsEntry) so a folder
// upload keeps its relative paths; plain files come back as themselves.
export async function filesFromDrop(dataTransfer) {
  const out = [];
  const entries = [];
  for (const item of dataTransfer.items || []) {
    if (item.kind !== "file") continue;
    const entry = item.webkitGetAsEntry ? item.webkitGetAsEntry() : null;
    if (entry) entries.push(entry);
    else { const f = item.getAsFile(); if (f) out.push({ file: f, path: f.name }); }
  }
  if (!entries.length && !out.length) {
    for (const f of dataTransfer.files || []) out.push({ file: f, path: f.name });
    return out;
  }
  async function walk(entry, dir) {
    if (entry.isFile) {
      const file = await new Promise((res, rej) => entry.file(res, rej));
      out.push({ file, path: dir + entry.name });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      // readEntries returns at most ~100 entries per call: read until empty.
      for (;;) {
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const e of batch) await walk(e, dir + entry.name + "/");
      }
    }
  }
  for (const e of entries) await walk(e, "");
  return out;
}

export function filesFromInput(input) {
  return Array.from(input.files || []).map((f) => ({ file: f, path: f.webkitRelativePath || f.name }));
}

// Uploader runs the uploads of one page one file at a time and shows each
// in `list` with a <progress> bar and a Cancel button.
export class Uploader {
  constructor(list, onChange) {
    this.list = list;
    this.onChange = onChange;
    this.queue = Promise.resolve();
  }

  add(bucket, prefix, files) {
    for (const { file, path } of files) {
      const key = prefix + path;
      const row = this.row(file, key);
      this.queue = this.queue.then(() => this.run(bucket, key, file, row));
    }
    return this.queue;
  }

  row(file, key) {
    const progress = h("progress", { max: String(file.size || 1), value: "0", "aria-label": "Upload of " + key });
    const text = h("span", { class: "upl-text" }, "waiting");
    const cancel = h("button", { type: "button", class: "secondary small" }, "Cancel");
    const li = h("li", { class: "upload", dataset: { key } },
      h("span", { class: "upl-name" }, key), progress, text, cancel);
    this.list.append(li);
    const ctl = new AbortController();
    cancel.addEventListener("click", () => { ctl.abort(); cancel.disabled = true; });
    return { li, progress, text, cancel, ctl, size: file.size };
  }

  async run(bucket, key, file, row) {
    const show = (done) => {
      row.progress.value = done;
      row.text.textContent = bytes(done) + " of " + bytes(file.size);
    };
    try {
      if (row.ctl.signal.aborted) throw new ApiError(0, "Aborted", "Cancelled.");
      say("Uploading " + key + "…");
      show(0);
      if (file.size <= SINGLE_PUT_MAX) {
        await xhrPut(bucketPath(bucket) + "/object?key=" + enc(key), file, show, row.ctl.signal);
      } else {
        await this.multipart(bucket, key, file, row, show);
      }
      show(file.size);
      row.progress.value = row.progress.max; // a full bar for an empty file too
      row.li.classList.add("done");
      row.text.textContent = "uploaded " + bytes(file.size);
      row.cancel.remove();
      say("Uploaded " + key + ".");
      this.onChange && this.onChange();
    } catch (err) {
      row.li.classList.add("failed");
      row.cancel.remove();
      if (err.code === "Aborted") {
        row.text.textContent = "cancelled";
        say("Cancelled the upload of " + key + ".");
      } else {
        row.text.textContent = "failed: " + err.message;
        fail(new ApiError(err.status, err.code, "Upload of " + key + " failed: " + err.message));
      }
      this.onChange && this.onChange();
    }
  }

  async multipart(bucket, key, file, row, show) {
    const want = { bucket, key, name: file.name, size: file.size, lastModified: file.lastModified };
    let entry = pendingUploads().find((e) => samePending(e, want));
    const have = new Map(); // part number -> etag, for parts already stored
    if (entry) {
      try {
        const r = await api("GET", uploadPath(bucket, entry.uploadId) + "?key=" + enc(key));
        for (const p of r.parts || []) {
          if (p.size === partSize(file.size, p.number)) have.set(p.number, p.etag);
        }
        row.li.dataset.resumed = String(have.size);
        say("Resuming " + key + ": " + have.size + " parts already uploaded.");
      } catch (err) {
        if (err.status !== 404) throw err;
        forgetPending(entry); // the server no longer has it (aborted, expired)
        entry = null;
      }
    }
    if (!entry) {
      const r = await api("POST", bucketPath(bucket) + "/uploads",
        { key, content_type: file.type || undefined }, { signal: row.ctl.signal });
      entry = { ...want, uploadId: r.upload_id, started: new Date().toISOString() };
      rememberPending(entry);
    }
    const path = uploadPath(bucket, entry.uploadId);
    const count = Math.max(1, Math.ceil(file.size / PART_SIZE));
    let base = 0;
    for (const n of have.keys()) base += partSize(file.size, n);
    show(base);
    try {
      for (let n = 1; n <= count; n++) {
        if (have.has(n)) continue;
        const blob = file.slice((n - 1) * PART_SIZE, Math.min(file.size, n * PART_SIZE));
        const r = await xhrPut(path + "/" + n + "?key=" + enc(key), blob,
          (loaded) => show(base + loaded), row.ctl.signal);
        have.set(n, r.etag);
        base += blob.size;
        show(base);
      }
      const parts = [];
      for (let n = 1; n <= count; n++) parts.push({ number: n, etag: have.get(n) });
      await api("POST", path + "/complete?key=" + enc(key), { parts });
      forgetPending(entry);
    } catch (err) {
      if (err.code === "Aborted") {
        // Cancel: the parts sent so far are dropped on the server too.
        await abortPending(entry).catch(() => {});
      }
      // Any other failure keeps the entry: dropping the file again resumes.
      throw err;
    }
  }
}

function partSize(size, n) {
  return Math.max(0, Math.min(PART_SIZE, size - (n - 1) * PART_SIZE));
}
