// unpair insight: reads the JSON endpoints and draws tables and SVG charts.
// Everything that comes from data is inserted as text, never as HTML.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const $ = (sel, root = document) => root.querySelector(sel);

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function svgEl(tag, attrs = {}) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

const pct = (x) => Math.round(x * 100) + "%";

function duration(ms) {
  if (!ms) return "–";
  const s = Math.round(ms / 1000);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}

function days() { return $("#days").value; }

async function getJSON(url, opts) {
  const r = await fetch(url, opts);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

// Bar chart of starts and completions per day, pairs of bars per day.
function chart(daily, width, height, compact) {
  const pad = compact ? { l: 2, r: 2, t: 2, b: 2 } : { l: 30, r: 8, t: 8, b: 22 };
  const svg = svgEl("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", class: compact ? "spark" : "chart" });
  const max = Math.max(1, ...daily.map((d) => Math.max(d.starts, d.completions)));
  const w = (width - pad.l - pad.r) / daily.length;
  const h = height - pad.t - pad.b;
  const y = (v) => pad.t + h - (v / max) * h;
  if (!compact) {
    for (const v of [0, max / 2, max]) {
      const t = Math.round(v);
      svg.append(svgEl("line", { class: "axis", x1: pad.l, x2: width - pad.r, y1: y(t), y2: y(t) }));
      const label = svgEl("text", { x: pad.l - 4, y: y(t) + 3, "text-anchor": "end" });
      label.textContent = t;
      svg.append(label);
    }
  }
  daily.forEach((d, i) => {
    const x = pad.l + i * w;
    const bw = Math.max(1, w / 2 - (compact ? 0.5 : 1));
    for (const [j, kind] of [[0, "starts"], [1, "completions"]]) {
      const v = d[kind];
      const bar = svgEl("rect", {
        class: "bar " + kind, x: x + j * (bw + (compact ? 0.5 : 1)), y: y(v), width: bw, height: pad.t + h - y(v),
        "data-date": d.date, "data-value": v,
      });
      const tip = svgEl("title");
      tip.textContent = `${d.date}: ${v} ${kind}`;
      bar.append(tip);
      svg.append(bar);
    }
    const last = daily.length - 1;
    if (!compact && (i === 0 || i === last || (i % 7 === 0 && last - i >= 4))) {
      const label = svgEl("text", { x: x + w / 2, y: height - 6, "text-anchor": "middle" });
      label.textContent = d.date.slice(5);
      svg.append(label);
    }
  });
  return svg;
}

function legend() {
  const l = el("div", { class: "legend" });
  for (const k of ["starts", "completions"]) {
    const s = el("span");
    s.append(el("i", { class: k }), document.createTextNode(k));
    l.append(s);
  }
  return l;
}

let selected = null;

function fillList(id, list, rateOf) {
  const sec = $("#" + id);
  const tbody = $("tbody", sec);
  tbody.replaceChildren();
  $(".empty", sec).hidden = list.contents.length > 0;
  for (const f of list.contents) {
    const tr = el("tr", { "data-content": f.content });
    tr.append(
      el("td", { class: "content", title: f.content }, f.content),
      el("td", { class: "num starts" }, f.starts),
      el("td", { class: "num" }, pct(f.completion_rate)),
      el("td", { class: "num" }, f.unique_learners),
      el("td", { class: "num" }, duration(f.median_time_spent_ms)),
      el("td", { class: "num rate" }, rateOf(f)),
    );
    const spark = el("td");
    spark.append(chart(f.daily, 120, 24, true));
    tr.append(spark);
    tr.addEventListener("click", () => select(f.content));
    tbody.append(tr);
  }
}

async function select(content) {
  selected = content;
  for (const tr of document.querySelectorAll("tbody tr[data-content]")) {
    tr.classList.toggle("selected", tr.dataset.content === content);
  }
  const f = await getJSON(`/v1/contents/${encodeURIComponent(content)}/engagement?days=${days()}`);
  $("#detail-title").textContent = `${f.content} · ${f.from} to ${f.to}`;
  const box = $("#chart");
  box.replaceChildren(legend(), chart(f.daily, 1140, 200, false));
  const dl = $("#detail-figures");
  dl.replaceChildren();
  const rows = [
    ["Starts", f.starts], ["Completions", f.completions], ["Completion rate", pct(f.completion_rate)],
    ["Unique learners", f.unique_learners], ["Attempts", f.attempts], ["Median time", duration(f.median_time_spent_ms)],
    ["Abandoned", `${f.abandoned} of ${f.idle} idle`], ["Mastered", `${f.mastered} of ${f.reach}`],
    ["Average rating", f.ratings ? f.average_rating.toFixed(2) + ` (${f.ratings})` : "–"],
  ];
  for (const [k, v] of rows) dl.append(el("dt", {}, k), el("dd", {}, v));
}

async function loadLists() {
  const [bt, ms] = await Promise.all([
    getJSON(`/v1/contents/barely-touched?days=${days()}`),
    getJSON(`/v1/contents/mastered?days=${days()}`),
  ]);
  fillList("barely", bt, (f) => pct(f.abandonment_rate));
  fillList("mastered", ms, (f) => pct(f.mastered_share));
  const first = selected || (bt.contents[0] || ms.contents[0] || {}).content;
  if (first) await select(first);
  document.body.dataset.ready = "1";
}

function when(ms) {
  return ms ? new Date(ms).toISOString().slice(0, 10) : "–";
}

async function lookup(ev) {
  ev.preventDefault();
  const sec = $("#learner");
  const err = $("#learner-error");
  const table = $("table", sec);
  err.hidden = true;
  try {
    const v = await getJSON("/v1/insight/learner", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ learner: $("#learner-input").value }),
    });
    $("#learner-key").textContent = `learner key ${v.learner} · ${v.decisions.length} decisions`;
    const tbody = $("tbody", table);
    tbody.replaceChildren();
    for (const d of v.decisions) {
      const state = el("span", { class: "tag" + (d.suppressed ? " on" : "") }, d.suppressed ? "suppressed" : "shown");
      const stateTd = el("td");
      stateTd.append(state);
      const why = el("td", { title: d.explanation }, d.reason + (d.explanation ? " – " + d.explanation : ""));
      tbody.append(el("tr", { "data-content": d.content }));
      tbody.lastChild.append(el("td", { class: "content", title: d.content }, d.content), stateTd, why,
        el("td", { class: "until" }, d.until ? when(d.until) + (d.review_due ? " (due)" : "") : "–"));
    }
    table.hidden = false;
  } catch (e) {
    table.hidden = true;
    $("#learner-key").textContent = "";
    err.textContent = e.message;
    err.hidden = false;
  }
}

$("#days").addEventListener("change", () => loadLists().catch(showError));
$("#learner-form").addEventListener("submit", lookup);

function showError(e) {
  document.body.dataset.ready = "error";
  const p = el("p", { class: "error" }, "Cannot load figures: " + e.message);
  $("main").prepend(p);
}

loadLists().catch(showError);
