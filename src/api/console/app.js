// The custos console: a hash-routed page over the query API. Served by custos itself (no CDN, no
// fonts, no build step); the API token lives in sessionStorage and goes as a bearer token, so every
// console action is an audited API call. Every value reaches the page as text (textContent), never
// as markup.
"use strict";

const TOKEN = "custos.token";
const LAST_VISIT = "custos.lastVisit";
const main = () => document.getElementById("main");

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

async function api(path, opts = {}) {
  const headers = { Authorization: "Bearer " + sessionStorage.getItem(TOKEN) };
  if (opts.body) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method: opts.method || "GET", headers, body: opts.body ? JSON.stringify(opts.body) : undefined });
  if (r.status === 401) { signOut(); throw new Error("the token was refused"); }
  if (opts.raw) return r;
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.message || ("HTTP " + r.status));
  return body;
}

const sev = (s) => el("span", { class: "sev sev-" + s }, s);
const when = (t) => (t || "").replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC");
// The country code as a small badge (flag emoji need a font many systems lack).
const flag = (iso) => (iso ? el("span", { class: "cc" }, iso.toUpperCase()) : "");
const qs = (o) => Object.entries(o).filter(([, v]) => v !== "" && v !== undefined && v !== null)
  .map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(v)).join("&");

function table(head, rows, onRow) {
  return el("table", {},
    el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((r) => {
      const tr = el("tr", { class: (onRow ? "clickable " : "") + (r.cls || "") }, r.cells.map((c) => el("td", {}, c)));
      if (onRow) tr.addEventListener("click", () => onRow(r));
      return tr;
    })));
}

function fail(e) { main().append(el("p", { class: "error", role: "alert" }, e.message || String(e))); }

function hashParams() {
  const [path, q] = location.hash.slice(1).split("?");
  return { path: path || "/alerts", params: new URLSearchParams(q || "") };
}

// --- sign in -----------------------------------------------------------------------------------

function signIn() {
  document.getElementById("nav").hidden = true;
  const input = el("input", { id: "token", type: "password", autocomplete: "off", placeholder: "cst_…" });
  const err = el("p", { class: "error", role: "alert" });
  const form = el("form", { class: "card signin", onsubmit: async (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN, input.value.trim());
    try { await api("/api/v1/alerts?limit=1"); route(); } catch (e) { err.textContent = e.message; }
  } },
  el("h1", {}, "Sign in"),
  el("label", {}, "API token (kept for this tab only)", input),
  el("p", {}, el("button", { id: "signin", type: "submit" }, "Sign in")), err);
  main().replaceChildren(form);
  input.focus();
}

function signOut() { sessionStorage.removeItem(TOKEN); location.hash = ""; signIn(); }

// --- alerts inbox ------------------------------------------------------------------------------

async function alerts(params) {
  const last = Number(localStorage.getItem(LAST_VISIT) || 0);
  const f = Object.fromEntries(["severity", "detector", "status", "user_id", "since"].map((k) => [k, params.get(k) || ""]));
  const input = (k, ph) => el("input", { name: k, value: f[k], placeholder: ph });
  const pick = (k, opts) => el("select", { name: k }, el("option", { value: "" }, "any"),
    opts.map((o) => { const x = el("option", { value: o }, o); if (o === f[k]) x.selected = true; return x; }));
  const form = el("form", { class: "filters", onsubmit: (ev) => {
    ev.preventDefault();
    location.hash = "#/alerts?" + qs(Object.fromEntries(new FormData(form)));
  } },
  el("label", {}, "Severity", pick("severity", ["critical", "high", "high,critical", "medium", "low"])),
  el("label", {}, "Detector", input("detector", "bulk_export")),
  el("label", {}, "Status", pick("status", ["open", "acknowledged", "resolved", "false_positive"])),
  el("label", {}, "User", input("user_id", "user id")),
  el("label", {}, "Since", input("since", "2026-01-01")),
  el("button", { type: "submit" }, "Filter"));
  const body = el("div");
  main().replaceChildren(el("h1", {}, "Alerts"), form, body);
  let cursor = null;
  const more = el("button", { class: "secondary", type: "button", onclick: () => page() }, "More");
  async function page() {
    const r = await api("/api/v1/alerts?" + qs({ ...f, limit: 50, cursor }));
    const rows = r.items.map((a) => ({
      id: a.alert_id,
      cls: Date.parse(a.created_at) > last ? "new" : "",
      cells: [when(a.ts), sev(a.severity), a.detector, a.subject, a.summary, a.status],
    }));
    body.append(table(["Time", "Severity", "Detector", "Who", "Summary", "Status"], rows,
      (row) => { location.hash = "#/alerts/" + encodeURIComponent(row.id); }));
    cursor = r.next_cursor;
    more.remove();
    if (cursor) body.append(el("p", {}, more));
    if (!r.items.length) body.append(el("p", { class: "muted" }, "No alerts match."));
  }
  await page();
  localStorage.setItem(LAST_VISIT, String(Date.now()));
}

// --- alert detail ------------------------------------------------------------------------------

async function alertDetail(id) {
  const a = await api("/api/v1/alerts/" + encodeURIComponent(id));
  const tl = await api("/api/v1/users/" + encodeURIComponent(a.user_id) + "/timeline?" + qs({ around: id, window: "2h", limit: 500 }));
  const dl = el("dl", { class: "facts" });
  for (const [k, v] of [["Severity", sev(a.severity)], ["Detector", a.detector], ["User", a.user_id], ["Tenant", a.tenant],
    ["Trigger time", when(a.ts)], ["Raised", when(a.created_at)], ["Status", el("span", { id: "status" }, a.status)], ["Response", a.response]]) {
    dl.append(el("dt", {}, k), el("dd", {}, v));
  }
  const evidence = table(["Time", "Action", "Object", "Records", "IP", "Where", "ASN"], a.evidence.map((e) => ({
    cells: [when(e.ts), e.action, e.object_type || "", e.record_count, e.ip || "",
      el("span", {}, flag(e.country_iso), " ", [e.city, e.country].filter(Boolean).join(", ")), [e.asn ? "AS" + e.asn : "", e.as_org].filter(Boolean).join(" ")],
  })));
  const actions = tl.items.filter((i) => i.kind === "action" && i.alert_id === id);
  const note = el("input", { id: "note", placeholder: "note (why)" });
  const pick = el("select", { id: "new-status" }, ["acknowledged", "resolved", "false_positive", "open"].map((s) => el("option", { value: s }, s)));
  const msg = el("p", { role: "status" });
  const triage = el("form", { class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      await api("/api/v1/alerts/" + encodeURIComponent(id) + "/status", { method: "POST", body: { status: pick.value, note: note.value } });
      route();
    } catch (e) { msg.textContent = e.message; msg.className = "error"; }
  } }, el("h2", {}, "Triage"), el("div", { class: "filters" }, el("label", {}, "Status", pick), el("label", {}, "Note", note),
    el("button", { id: "set-status", type: "submit" }, "Save")), msg);
  main().replaceChildren(
    el("h1", {}, a.summary),
    el("div", { class: "row" }, el("div", { class: "card" }, dl),
      el("div", { class: "card" }, el("h2", {}, "Directory"), table(["Status", "Effective", "Timezone", "Department", "Manager"],
        tl.directory.map((d) => ({ cells: [d.status, when(d.effective_ts) || "always", d.timezone, d.department, d.manager_id] })))))
    , el("p", {}, el("a", { href: "#/timeline/" + encodeURIComponent(a.user_id) + "?around=" + encodeURIComponent(id) }, "User timeline ±2 h")),
    el("h2", {}, "Evidence"), evidence,
    el("h2", {}, "Lock actions"), actions.length ? table(["Action", "Status", "Channels", "Attempts", "Error", "Updated"],
      actions.map((x) => ({ cells: [x.action, x.status, x.channels, x.attempts, x.last_error, when(x.updated_at)] }))) : el("p", { class: "muted" }, "None."),
    el("h2", {}, "Notifications"), a.notifications.length ? table(["Route", "Channel", "Status", "Attempts", "Error", "Updated"],
      a.notifications.map((n) => ({ cells: [n.route, n.channel, n.status, n.attempts, n.last_error, when(n.updated_at)] }))) : el("p", { class: "muted" }, "None."),
    el("h2", {}, "Status history"), a.history.length ? table(["When", "Status", "Who", "Note"],
      a.history.map((h) => ({ cells: [when(h.at), h.status, h.actor + " (" + h.role + ")", h.note] }))) : el("p", { class: "muted" }, "Open, untouched."),
    triage);
}

// --- timeline ----------------------------------------------------------------------------------

async function timeline(user, params) {
  const q = { around: params.get("around") || "", window: params.get("window") || (params.get("around") ? "2h" : ""), since: params.get("since") || "", until: params.get("until") || "", limit: 200 };
  const body = el("div");
  main().replaceChildren(el("h1", {}, "Timeline of " + user), body);
  let cursor = null;
  const more = el("button", { class: "secondary", type: "button", onclick: () => page() }, "More");
  const describe = (i) => {
    switch (i.kind) {
      case "event": return [i.action, [i.object_type, i.record_count ? i.record_count + " records" : ""].filter(Boolean).join(", "), [i.ip, i.city, i.country].filter(Boolean).join(" · ")];
      case "alert": return [sev(i.severity), i.summary, i.status];
      case "action": return [i.action, i.status, i.reason];
      default: return [i.status, i.note, i.actor];
    }
  };
  async function page() {
    const r = await api("/api/v1/users/" + encodeURIComponent(user) + "/timeline?" + qs({ ...q, cursor }));
    body.append(table(["Time", "Kind", "What", "", ""], r.items.map((i) => ({ cells: [when(i.ts), i.kind, ...describe(i)] }))));
    cursor = r.next_cursor;
    more.remove();
    if (cursor) body.append(el("p", {}, more));
  }
  await page();
}

// --- events search and export ------------------------------------------------------------------

async function events(params) {
  const keys = ["user_id", "action", "ip", "country_iso", "since", "until"];
  const f = Object.fromEntries(keys.map((k) => [k, params.get(k) || ""]));
  const form = el("form", { class: "filters", onsubmit: (ev) => { ev.preventDefault(); location.hash = "#/events?" + qs(Object.fromEntries(new FormData(form))); } },
    keys.map((k) => el("label", {}, k, el("input", { name: k, value: f[k] }))), el("button", { type: "submit" }, "Search"));
  const exp = (format) => el("button", { class: "secondary", type: "button", onclick: async () => {
    const r = await api("/api/v1/events?" + qs({ ...f, format }), { raw: true });
    const url = URL.createObjectURL(await r.blob());
    const a = el("a", { href: url, download: "custos-events." + (format === "csv" ? "csv" : "ndjson") });
    document.body.append(a); a.click(); a.remove();
  } }, "Export " + format.toUpperCase());
  const r = await api("/api/v1/events?" + qs({ ...f, limit: 100 }));
  main().replaceChildren(el("h1", {}, "Events"), form, el("p", {}, exp("csv"), " ", exp("ndjson")),
    table(["Time", "User", "Action", "Object", "Records", "IP", "Where"], r.items.map((e) => ({
      cells: [when(e.ts), e.user_id, e.action, e.object_type || "", e.record_count, e.ip || "", el("span", {}, flag(e.country_iso), " ", [e.city, e.country].filter(Boolean).join(", "))],
    }))));
}

// --- lockouts (admin) --------------------------------------------------------------------------

async function lockouts() {
  const msg = el("p", { role: "status" });
  const user = el("input", { name: "user_id", placeholder: "user id" });
  const reason = el("input", { name: "reason", placeholder: "reason (recorded)" });
  const act = (what) => async () => {
    try {
      if (what === "reset") await api("/api/v1/response/reset-breaker", { method: "POST", body: { reason: reason.value } });
      else await api("/api/v1/users/" + encodeURIComponent(user.value) + "/" + what, { method: "POST", body: { reason: reason.value } });
      route();
    } catch (e) { msg.textContent = e.message; msg.className = "error"; }
  };
  const r = await api("/api/v1/actions?limit=100");
  main().replaceChildren(el("h1", {}, "Lockouts"),
    el("div", { class: "card filters" }, el("label", {}, "User", user), el("label", {}, "Reason", reason),
      el("button", { type: "button", onclick: act("lock") }, "Lock"), el("button", { class: "secondary", type: "button", onclick: act("unlock") }, "Unlock"),
      el("button", { class: "secondary", type: "button", onclick: act("reset") }, "Reset storm breaker")), msg,
    table(["Requested", "Action", "User", "Status", "Channels", "Attempts", "Actor", "Reason"], r.items.map((x) => ({
      cells: [when(x.requested_at), x.action, x.user_id, x.status, x.channels, x.attempts, x.actor, x.reason],
    }))));
}

// --- overview ----------------------------------------------------------------------------------

async function overview() {
  const [s, a] = await Promise.all([api("/api/v1/stats?include=countries"), api("/api/v1/alerts?limit=1000")]);
  const bars = (head, rows) => {
    const max = Math.max(1, ...rows.map((r) => r.n));
    return table(head, rows.map((r) => {
      const b = el("span", { class: "bar" }); b.style.width = Math.round(240 * r.n / max) + "px";
      return { cells: [r.label, b, r.n] };
    }));
  };
  // Alerts per day per detector: a day × detector table.
  const detectors = [...new Set(s.alerts_per_day.map((d) => d.detector))].sort();
  const days = [...new Set(s.alerts_per_day.map((d) => d.day))].sort();
  const cell = (day, det) => (s.alerts_per_day.find((d) => d.day === day && d.detector === det) || {}).alerts || "";
  const perDay = days.length
    ? table(["Day", ...detectors], days.map((day) => ({ cells: [day, ...detectors.map((det) => cell(day, det))] })))
    : el("p", { class: "muted" }, "No alerts in this period.");
  const byUser = {};
  for (const x of a.items) byUser[x.subject] = (byUser[x.subject] || 0) + 1;
  const top = Object.entries(byUser).sort((x, y) => y[1] - x[1]).slice(0, 10).map(([label, n]) => ({ label, n }));
  const countries = s.events_per_country.map((c) => ({
    label: c.country_iso ? el("span", {}, flag(c.country_iso), " ", c.country || c.country_iso) : "not located", n: c.events,
  }));
  main().replaceChildren(el("h1", {}, "Overview"), el("p", { class: "muted" }, when(s.since) + " – " + when(s.until)),
    el("div", { class: "card" }, el("h2", {}, "Alerts per day and detector"), perDay),
    el("div", { class: "row" },
      el("div", { class: "card" }, el("h2", {}, "Top users by alerts"), bars(["User", "", "Alerts"], top)),
      el("div", { class: "card" }, el("h2", {}, "Events per country"), bars(["Country", "", "Events"], countries))),
    el("div", { class: "card" }, el("h2", {}, "Events per day"), bars(["Day", "", "Events"], s.events_per_day.map((d) => ({ label: d.day, n: d.events })))));
}

// --- routing -----------------------------------------------------------------------------------

async function route() {
  if (!sessionStorage.getItem(TOKEN)) return signIn();
  document.getElementById("nav").hidden = false;
  const { path, params } = hashParams();
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", path.startsWith(a.getAttribute("href").slice(1)));
  main().replaceChildren(el("p", { class: "muted" }, "Loading…"));
  try {
    const [, page, arg] = path.split("/");
    // `#/alerts/<id>` is the link notifications carry (`[api] public_url`).
    if (page === "alerts" && arg) await alertDetail(decodeURIComponent(arg));
    else if (page === "timeline") await timeline(decodeURIComponent(arg), params);
    else if (page === "events") await events(params);
    else if (page === "lockouts") await lockouts();
    else if (page === "overview") await overview();
    else await alerts(params);
  } catch (e) { main().replaceChildren(); fail(e); }
}

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("signout").addEventListener("click", signOut);
  route();
});
