// kubesnap console. No framework, no build step: every user string goes into the page through
// textContent or attributes (never innerHTML), so a name like <script> shows as text.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const main = document.getElementById("main");
const KINDS = {
  snapshots: "Snapshots", repositories: "Repositories", backupsessions: "BackupSessions",
  backupschedules: "BackupSchedules", restoresessions: "RestoreSessions",
};
const PAGE_SIZE = 100;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

async function api(method, path, body) {
  const init = { method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
  if (method !== "GET") init.headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const response = await fetch(path, init);
  let data = null;
  try { data = await response.json(); } catch (e) { data = { message: "the console answered " + response.status }; }
  if (!response.ok) { const e = new Error((data && data.message) || ("HTTP " + response.status)); e.status = response.status; throw e; }
  return data;
}

function banner(text, kind) {
  const area = document.getElementById("messages");
  area.replaceChildren();
  if (text) area.append(el("div", { class: "alert " + (kind || "error"), role: "alert", text }));
}

const GOOD = new Set(["Ready", "OK", "Succeeded", "True", "Completed"]);
const BUSY = new Set(["Pending", "Running", "Deleting", "Unknown", ""]);
function badge(value) {
  const text = value === undefined || value === null || value === "" ? "—" : String(value);
  let tone = "bad";
  if (GOOD.has(text)) tone = "good"; else if (BUSY.has(text) || text === "—") tone = "busy";
  return el("span", { class: "badge " + tone, text });
}
const BADGE_COLUMNS = new Set(["Phase", "Status", "Verification Status"]);

function age(timestamp) {
  if (!timestamp) return "";
  let s = Math.max(0, Math.floor((Date.now() - Date.parse(timestamp)) / 1000));
  if (s < 120) return s + "s";
  const m = Math.floor(s / 60); if (m < 120) return m + "m";
  const h = Math.floor(m / 60); if (h < 48) return h + "h";
  return Math.floor(h / 24) + "d";
}

function bytes(n) {
  if (n === undefined || n === null) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = Number(n), i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v : v.toFixed(1)) + " " + units[i];
}

function params() { return new URLSearchParams(location.search); }
function link(href, text) { return el("a", { href, text }); }
function objectHref(kind, ns, name) { return "/object/" + kind + "/" + encodeURIComponent(ns) + "/" + encodeURIComponent(name); }

// MARK: the nav

function nav(active) {
  const ns = params().get("namespace") || "";
  const q = ns ? "?namespace=" + encodeURIComponent(ns) : "";
  document.getElementById("nav").replaceChildren(...Object.entries(KINDS).map(([kind, label]) =>
    el("a", { href: (kind === "snapshots" ? "/" : "/list/" + kind) + q, class: kind === active ? "active" : "", "aria-current": kind === active ? "page" : null, text: label })));
}

// MARK: lists

async function namespaceControl(onChange) {
  const current = params().get("namespace") || "";
  const wrap = el("div", { class: "field" });
  let info;
  try { info = await api("GET", "/api/namespaces"); } catch (e) { info = { canList: false, message: e.message, items: [] }; }
  if (info.canList) {
    const select = el("select", { id: "namespace", "aria-label": "Select namespace" },
      el("option", { value: "", text: "All namespaces" }),
      info.items.map(n => el("option", { value: n, text: n, selected: n === current })));
    select.addEventListener("change", () => onChange(select.value));
    wrap.append(el("label", { for: "namespace", text: "Namespace" }), select);
  } else {
    const input = el("input", { id: "namespace", type: "text", value: current, placeholder: "namespace", "aria-label": "Namespace", autocomplete: "off" });
    const form = el("form", { class: "inline", onsubmit: (ev) => { ev.preventDefault(); onChange(input.value.trim()); } },
      input, el("button", { type: "submit", text: "Show" }));
    wrap.append(el("label", { for: "namespace", text: "Namespace" }), form,
      el("p", { class: "hint", id: "namespace-hint", text: "You may not list namespaces, so type one. (" + info.message + ")" }));
  }
  return wrap;
}

function listPage(kind) {
  nav(kind);
  const state = { columns: [], rows: new Map(), sort: { index: 0, dir: 1 }, filter: "", page: 0, rv: "", source: null, retry: null, scheduled: false };
  const ns = params().get("namespace") || "";
  const title = el("h1", { text: KINDS[kind] });
  const filter = el("input", { id: "filter", type: "search", placeholder: "Filter by name", "aria-label": "Filter by name", autocomplete: "off" });
  filter.addEventListener("input", () => { state.filter = filter.value.trim().toLowerCase(); state.page = 0; render(); });
  const table = el("table", { class: "list", id: "list" });
  const pager = el("div", { class: "pager", id: "pager" });
  const status = el("p", { class: "live", id: "live", "aria-live": "polite" });
  const controls = el("div", { class: "controls" });
  main.replaceChildren(title, controls, status, el("div", { class: "table-wrap" }, table), pager);
  namespaceControl((value) => {
    const q = new URLSearchParams(location.search);
    if (value) q.set("namespace", value); else q.delete("namespace");
    location.search = q.toString();
  }).then(control => controls.replaceChildren(control, el("div", { class: "field" }, el("label", { for: "filter", text: "Name" }), filter)));

  function columnsOf(t) {
    const defs = (t.columnDefinitions || []).filter(c => !c.priority);
    const cols = defs.map((c, i) => ({ name: c.name, index: (t.columnDefinitions || []).indexOf(c) }));
    cols.splice(1, 0, { name: "Namespace", namespace: true });
    return cols;
  }
  function rowKey(r) { return (r.object && r.object.metadata && r.object.metadata.uid) || JSON.stringify(r.cells); }
  function apply(t, type) {
    if (t.metadata && t.metadata.resourceVersion) state.rv = t.metadata.resourceVersion;
    if (!state.columns.length && t.columnDefinitions) state.columns = columnsOf(t);
    for (const r of t.rows || []) {
      if (type === "DELETED") state.rows.delete(rowKey(r)); else state.rows.set(rowKey(r), r);
    }
    schedule();
  }
  function cellValue(r, c) {
    const meta = (r.object && r.object.metadata) || {};
    if (c.namespace) return meta.namespace || "";
    if (c.name === "Age") return meta.creationTimestamp || "";
    return r.cells[c.index];
  }
  function schedule() { if (!state.scheduled) { state.scheduled = true; requestAnimationFrame(() => { state.scheduled = false; render(); }); } }
  function render() {
    const cols = state.columns;
    let rows = [...state.rows.values()];
    if (state.filter) rows = rows.filter(r => String(r.cells[0]).toLowerCase().includes(state.filter));
    const s = state.sort, c = cols[s.index];
    if (c) rows.sort((a, b) => {
      let x = cellValue(a, c), y = cellValue(b, c);
      if (c.name === "Age") { [x, y] = [y, x]; }
      if (typeof x === "number" && typeof y === "number") return (x - y) * s.dir;
      return String(x ?? "").localeCompare(String(y ?? ""), undefined, { numeric: true }) * s.dir;
    });
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    state.page = Math.min(state.page, pages - 1);
    const shown = rows.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE);
    const head = el("thead", {}, el("tr", {}, cols.map((col, i) => el("th", { scope: "col", "aria-sort": i === s.index ? (s.dir > 0 ? "ascending" : "descending") : "none" },
      el("button", { type: "button", class: "sort", onclick: () => { state.sort = { index: i, dir: i === s.index ? -s.dir : 1 }; render(); } },
        col.name, el("span", { class: "arrow", "aria-hidden": "true", text: i === s.index ? (s.dir > 0 ? " ▲" : " ▼") : "" }))))));
    const body = el("tbody", {}, shown.map(r => {
      const meta = (r.object && r.object.metadata) || {};
      return el("tr", { "data-name": meta.name || "", "data-namespace": meta.namespace || "" }, cols.map((col, i) => {
        const v = cellValue(r, col);
        let content;
        if (i === 0) content = link(objectHref(kind, meta.namespace || "", meta.name || String(v)), String(v));
        else if (col.name === "Age") content = age(v);
        else if (BADGE_COLUMNS.has(col.name)) content = badge(v);
        else content = v === undefined || v === null ? "" : String(v);
        const long = typeof content === "string" && content.length > 40;
        return el("td", { "data-label": col.name, "data-column": col.name, class: long ? "long" : null, title: long ? content : null }, content);
      }));
    }));
    if (!rows.length) body.append(el("tr", {}, el("td", { colspan: String(cols.length || 1), class: "empty", text: state.filter ? "No " + KINDS[kind] + " match the filter." : "No " + KINDS[kind] + " here yet." })));
    table.replaceChildren(el("caption", { class: "visually-hidden", text: KINDS[kind] + (ns ? " in " + ns : " in all namespaces") }), head, body);
    pager.replaceChildren(
      el("button", { type: "button", disabled: state.page === 0, onclick: () => { state.page--; render(); }, text: "Previous" }),
      el("span", { text: rows.length ? `${state.page * PAGE_SIZE + 1}–${state.page * PAGE_SIZE + shown.length} of ${rows.length}` : "0 of 0" }),
      el("button", { type: "button", disabled: state.page >= pages - 1, onclick: () => { state.page++; render(); }, text: "Next" }));
  }
  async function relist() {
    try {
      const t = await api("GET", "/api/table/" + kind + (ns ? "?namespace=" + encodeURIComponent(ns) : ""));
      state.rows = new Map(); state.columns = columnsOf(t);
      apply(t, "ADDED");
      banner("");
      watch();
    } catch (e) {
      banner(e.message);
      status.textContent = "";
      render();
    }
  }
  function watch() {
    if (state.source) state.source.close();
    const q = new URLSearchParams({ resourceVersion: state.rv });
    if (ns) q.set("namespace", ns);
    const source = new EventSource("/api/watch/" + kind + "?" + q.toString());
    state.source = source;
    source.onmessage = (m) => {
      const e = JSON.parse(m.data);
      if (e.type === "OPEN") { status.textContent = "Live"; status.className = "live on"; }
      else if (e.type === "ADDED" || e.type === "MODIFIED" || e.type === "DELETED") apply(e.table, e.type);
      else if (e.type === "BOOKMARK") state.rv = e.resourceVersion || state.rv;
      else if (e.type === "EXPIRED") { source.close(); relist(); }
      else if (e.type === "END") { source.close(); watch(); }
      else if (e.type === "ERROR") { source.close(); banner(e.message); retry(relist, 3000); }
    };
    source.onerror = () => { source.close(); status.textContent = "Reconnecting…"; status.className = "live"; retry(watch, 1000); };
  }
  function retry(f, ms) { clearTimeout(state.retry); state.retry = setTimeout(f, ms); }
  relist();
}

// MARK: details

function chips(map) {
  const entries = Object.entries(map || {});
  if (!entries.length) return el("span", { class: "muted", text: "none" });
  // Long values (kubectl's last-applied-configuration) are cut, the whole value in the tooltip.
  const cut = (v) => v.length > 64 ? v.slice(0, 63) + "…" : v;
  return el("ul", { class: "chips" }, entries.map(([k, v]) => el("li", { class: "chip", title: k + "=" + v }, el("span", { class: "key", text: k }), el("span", { class: "value", text: cut(String(v)) }))));
}
function dl(pairs) {
  return el("dl", { class: "fields" }, pairs.map(([k, v]) => [el("dt", { text: k }), el("dd", { "data-field": k }, v === undefined || v === null || v === "" ? el("span", { class: "muted", text: "—" }) : v)]));
}
function section(title, ...content) { return el("section", { class: "card", "aria-label": title }, el("h2", { text: title }), ...content); }
function conditionsTable(conditions) {
  if (!conditions || !conditions.length) return el("p", { class: "muted", text: "No conditions." });
  return el("table", { class: "small", id: "conditions" }, el("thead", {}, el("tr", {}, ["Type", "Status", "Reason", "Message", "Last transition"].map(h => el("th", { scope: "col", text: h })))),
    el("tbody", {}, conditions.map(c => el("tr", {}, el("td", { text: c.type }), el("td", {}, badge(c.status)), el("td", { text: c.reason || "" }), el("td", { text: c.message || "" }), el("td", { text: c.lastTransitionTime || "" })))));
}
function eventsTable(data) {
  if (data.eventsError) return el("p", { class: "alert error", text: data.eventsError });
  const events = data.events || [];
  if (!events.length) return el("p", { class: "muted", text: "No recent Events." });
  return el("table", { class: "small", id: "events" }, el("thead", {}, el("tr", {}, ["Type", "Reason", "Message", "Count", "Last seen"].map(h => el("th", { scope: "col", text: h })))),
    el("tbody", {}, events.map(e => el("tr", {}, el("td", {}, el("span", { class: "badge " + (e.type === "Warning" ? "bad" : "good"), text: e.type })), el("td", { text: e.reason || "" }), el("td", { text: e.message || "" }), el("td", { text: String(e.count || 1) }), el("td", { text: e.lastTimestamp || e.eventTime || "" })))));
}

function dialog(title, ...content) {
  const d = el("dialog", { "aria-labelledby": "dialog-title", class: "dialog" }, el("h2", { id: "dialog-title", text: title }), ...content);
  document.body.append(d);
  d.addEventListener("close", () => d.remove());
  d.showModal();
  return d;
}

function blockingCondition(object) {
  const conditions = (object.status && object.status.conditions) || [];
  const c = conditions.find(c => c.status === "False" && c.message) || conditions.find(c => c.reason && c.reason !== "Ready" && c.message);
  const reason = object.status && object.status.reason;
  if (c) return (c.reason ? c.reason + ": " : "") + c.message;
  return reason || "";
}

function deleteDialog(kind, object, data) {
  const meta = object.metadata, spec = object.spec || {}, status = object.status || {};
  const policy = spec.deletionPolicy || "Delete";
  const where = status.backendRepository || (data.repository && data.repository.status && data.repository.status.backendURL) || "its repository";
  const consequence = policy === "Delete"
    ? "Delete: the data is removed from " + where + "."
    : "Retain: the data stays in " + where + " and can be adopted again.";
  const box = el("input", { type: "checkbox", id: "confirm-delete" });
  const error = el("p", { class: "alert error hidden", id: "delete-error", role: "alert" });
  const progress = el("p", { class: "progress hidden", id: "delete-progress", "aria-live": "polite" });
  const confirm = el("button", { type: "button", class: "danger", id: "confirm-delete-button", text: "Delete" });
  const cancel = el("button", { type: "button", id: "cancel-delete", text: "Cancel" });
  const d = dialog("Delete " + kind.replace(/s$/, "") + " " + meta.name + "?",
    el("p", { class: "policy", id: "delete-policy" }, el("strong", { text: "Deletion policy " + policy + ". " }), consequence),
    data.lastVerified ? el("p", { class: "alert warning", id: "last-verified", text: "This is the last verified snapshot of its source in repository " + spec.repository + "." }) : null,
    el("p", { class: "muted", text: "This cannot be undone." }),
    el("div", { class: "check" }, box, el("label", { for: "confirm-delete", text: "I understand what deleting " + meta.name + " does." })),
    error, progress,
    el("div", { class: "buttons" }, cancel, confirm));
  cancel.addEventListener("click", () => d.close());
  confirm.addEventListener("click", async () => {
    if (!box.checked) { error.textContent = "Tick the box to confirm the deletion."; error.classList.remove("hidden"); box.focus(); return; }
    error.classList.add("hidden");
    confirm.disabled = true; confirm.textContent = "Deleting..."; confirm.classList.add("spinning");
    try {
      await api("POST", "/api/delete/" + kind + "/" + encodeURIComponent(meta.namespace) + "/" + encodeURIComponent(meta.name));
    } catch (e) {
      error.textContent = e.message; error.classList.remove("hidden");
      confirm.disabled = false; confirm.textContent = "Delete"; confirm.classList.remove("spinning");
      return;
    }
    // Follow the object until it is gone; a deletion that waits shows why.
    const started = Date.now();
    for (;;) {
      let current;
      try { current = await api("GET", "/api/object/" + kind + "/" + encodeURIComponent(meta.namespace) + "/" + encodeURIComponent(meta.name)); }
      catch (e) {
        if (e.status === 404) { location.href = (kind === "snapshots" ? "/" : "/list/" + kind) + "?namespace=" + encodeURIComponent(meta.namespace); return; }
        progress.textContent = e.message; progress.classList.remove("hidden");
      }
      if (current) {
        const why = blockingCondition(current.object);
        if (why && Date.now() - started > 1500) { progress.textContent = "The deletion is waiting: " + why; progress.classList.remove("hidden"); }
      }
      await new Promise(r => setTimeout(r, 500));
    }
  });
}

function restoreDialog(object) {
  const meta = object.metadata, spec = object.spec || {};
  const now = new Date(), pad = (n) => String(n).padStart(2, "0");
  const stamp = `${now.getUTCFullYear()}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}-${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}${pad(now.getUTCSeconds())}`;
  const name = meta.name.slice(0, 40).replace(/\./g, "-").replace(/-+$/, "") + "-restore-" + stamp;
  const target = (spec.source && spec.source.path) || (object.status && object.status.source && object.status.source.path) || "the snapshot's source";
  const error = el("p", { class: "alert error hidden", role: "alert", id: "restore-error" });
  const go = el("button", { type: "button", class: "primary", id: "confirm-restore", text: "Restore" });
  const cancel = el("button", { type: "button", text: "Cancel" });
  const d = dialog("Restore " + meta.name + "?",
    el("p", { id: "restore-target" }, "The content of ", el("code", { text: target }), " is replaced by the snapshot's."),
    el("p", { id: "restore-pre" }, "A pre-restore Snapshot ", el("code", { text: name + "-pre-restore" }), " of its current content is taken first: restore that one to undo."),
    error, el("div", { class: "buttons" }, cancel, go));
  cancel.addEventListener("click", () => d.close());
  go.addEventListener("click", async () => {
    go.disabled = true; go.textContent = "Starting...";
    try {
      await api("POST", "/api/restore/" + encodeURIComponent(meta.namespace) + "/" + encodeURIComponent(meta.name), { name });
      location.href = objectHref("restoresessions", meta.namespace, name);
    } catch (e) { error.textContent = e.message; error.classList.remove("hidden"); go.disabled = false; go.textContent = "Restore"; }
  });
}

async function detailPage(kind, ns, name, shown) {
  nav(kind);
  let data;
  // The page follows the object: fetched again every 2 s, drawn again when it changed and no
  // dialog is open on it.
  const again = (text) => setTimeout(() => detailPage(kind, ns, name, text), 2000);
  try { data = await api("GET", "/api/object/" + kind + "/" + encodeURIComponent(ns) + "/" + encodeURIComponent(name)); }
  catch (e) {
    if (document.querySelector("dialog")) return again(shown);
    main.replaceChildren(el("h1", { text: name }), el("p", { class: "alert error", role: "alert", id: "detail-error", text: e.message }));
    return e.status === 404 || e.status === 403 ? undefined : again(undefined);
  }
  const text = JSON.stringify(data);
  if (text === shown || document.querySelector("dialog")) return again(shown);
  const o = data.object, meta = o.metadata || {}, spec = o.spec || {}, st = o.status || {};
  const actions = el("div", { class: "actions" });
  if (kind === "snapshots") {
    if (st.phase === "Ready") actions.append(el("button", { type: "button", class: "primary", id: "restore", text: "Restore", onclick: () => restoreDialog(o) }));
  }
  actions.append(el("button", { type: "button", class: "danger", id: "delete", text: "Delete", onclick: async () => {
    // Whether this is the last verified copy is asked now (it lists the namespace's Snapshots).
    let fresh = data;
    if (kind === "snapshots") {
      try { fresh = await api("GET", "/api/object/" + kind + "/" + encodeURIComponent(ns) + "/" + encodeURIComponent(name) + "?lastVerified=1"); }
      catch (e) { banner(e.message); return; }
    }
    deleteDialog(kind, fresh.object, fresh);
  } }));
  const header = el("div", { class: "title" }, el("h1", { text: meta.name }), badge(st.phase), actions);
  const basic = [
    ["Name", meta.name], ["Namespace", meta.namespace], ["Labels", chips(meta.labels)], ["Annotations", chips(meta.annotations)],
    ["UID", meta.uid], ["Phase", badge(st.phase)],
  ];
  let sections;
  if (kind === "snapshots") {
    basic.push(["Verification Status", badge(st.verificationStatus)], ["Deletion Policy", st.deletionPolicy || spec.deletionPolicy], ["Snapshot ID", st.snapshotID],
      ["Time", st.snapshotTime], ["Size", bytes(st.sizeBytes)], ["Files", st.fileCount === undefined ? "" : String(st.fileCount)],
      ["Source", spec.source && spec.source.path ? el("code", { text: spec.source.path }) : (spec.snapshotID ? "adopted " + spec.snapshotID : "")],
      ["Description", spec.description]);
    const r = data.repository, rs = (r && r.status) || {};
    const repo = r ? dl([
      ["Name", link(objectHref("repositories", meta.namespace, r.metadata.name), r.metadata.name)], ["Namespace", r.metadata.namespace],
      ["BackupStorage", rs.storage], ["Size", rs.size], ["Target", r.spec && r.spec.target], ["Status", badge(rs.phase)],
      ["Backend", rs.backendURL], ["Age", age(r.metadata.creationTimestamp)],
    ]) : el("p", { class: "alert error", text: data.repositoryError || ("Repository " + spec.repository + " not found") });
    const inv = spec.invoker;
    const invoker = inv ? dl([
      ["Kind", inv.kind], ["Name", link(objectHref(inv.kind.toLowerCase() + "s", meta.namespace, inv.name), inv.name)], ["Namespace", meta.namespace],
    ]) : el("p", { class: "muted", text: "Made by hand (no invoker)." });
    sections = [section("Basic", dl(basic)), section("Repository", repo), section("Invoker", invoker)];
  } else {
    const statusPairs = Object.entries(st).filter(([k]) => k !== "conditions").map(([k, v]) => [k, typeof v === "object" ? el("code", { text: JSON.stringify(v) }) : (k === "phase" ? badge(v) : String(v))]);
    sections = [section("Basic", dl(basic)), section("Spec", el("pre", { class: "spec", text: JSON.stringify(spec, null, 2) })), section("Status", dl(statusPairs))];
  }
  sections.push(section("Conditions", conditionsTable(st.conditions)), section("Events", eventsTable(data)));
  main.replaceChildren(el("p", { class: "crumbs" }, link((kind === "snapshots" ? "/" : "/list/" + kind) + "?namespace=" + encodeURIComponent(meta.namespace), "← " + KINDS[kind])), header, el("div", { class: "grid" }, sections));
  again(text);
}

// MARK: routing

function route() {
  const parts = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0 || (parts[0] === "snapshots" && parts.length === 1)) return listPage("snapshots");
  if (parts[0] === "list" && KINDS[parts[1]]) return listPage(parts[1]);
  if (parts[0] === "object" && KINDS[parts[1]] && parts.length === 4) return detailPage(parts[1], parts[2], parts[3]);
  main.replaceChildren(el("h1", { text: "Not found" }), link("/", "Snapshots"));
}
route();
