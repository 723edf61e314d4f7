// The training dashboard: follows /events (Server-Sent Events) of the chosen run and draws
// its curves, filters, feature maps, layer norms, confusion matrix and mistakes.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const TERMINAL = ["finished", "stopped", "interrupted"];
  let state = null, source = null, runIndex = 0, pending = false;

  function xy(rows, xKey, yKey) {
    return rows.filter((r) => r[yKey] !== null && r[yKey] !== undefined).map((r) => [r[xKey], r[yKey]]);
  }

  function clock(s) {
    if (s === null || s === undefined || !isFinite(s)) return "–";
    s = Math.round(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(sec).padStart(2, "0");
  }

  function header(st) {
    $("run-name").textContent = st.name || "";
    const badge = $("status");
    badge.textContent = st.status;
    badge.className = "badge " + st.status;
    const p = st.progress || {}, parts = [];
    if (p.epochs) parts.push(`epoch ${p.epoch}/${p.epochs}`);
    if (p.batches && st.status === "running") parts.push(`batch ${p.batch}/${p.batches}`);
    if (p.samples_per_s) parts.push(`${Math.round(p.samples_per_s).toLocaleString("en")} samples/s`);
    if (p.lr) parts.push(`lr ${Draw.fmt(p.lr)}`);
    if (p.elapsed_s !== undefined) parts.push(`elapsed ${clock(p.elapsed_s)}`);
    if (st.status === "running") parts.push(`ETA ${clock(p.eta_s)}`);
    if (p.stop_reason) parts.push(p.stop_reason);
    $("progress-text").textContent = parts.join(" · ");
    let done = 0;
    if (TERMINAL.includes(st.status)) done = 1;
    else if (p.epochs && p.batches) done = ((p.epoch - 1) + p.batch / p.batches) / p.epochs;
    $("bar-fill").style.width = (100 * Math.max(0, Math.min(1, done))).toFixed(1) + "%";
    const notes = $("notes");
    notes.textContent = "";
    for (const n of st.notes || []) {
      const li = document.createElement("li");
      li.textContent = n;
      notes.appendChild(li);
    }
    const t = st.test;
    $("test-line").textContent = t ? `Test (evaluated once, weights of epoch ${t.model_epoch}): ` +
      `loss ${Draw.fmt(t.test_loss)}, accuracy ${(100 * t.test_accuracy).toFixed(2)}%.` : "";
  }

  function curves(st) {
    const b = st.batches || [], h = st.history || [];
    Draw.lineChart($("chart-loss"), [
      { label: "train (batch windows)", points: xy(b, "epoch", "loss") },
      { label: "train (epoch)", points: xy(h, "epoch", "loss"), dots: true, dash: true },
      { label: "validation", points: xy(h, "epoch", "val_loss"), dots: true },
    ], { xLabel: "epoch" });
    Draw.lineChart($("chart-acc"), [
      { label: "train (batch windows)", points: xy(b, "epoch", "accuracy") },
      { label: "train (epoch)", points: xy(h, "epoch", "accuracy"), dots: true, dash: true },
      { label: "validation", points: xy(h, "epoch", "val_accuracy"), dots: true },
    ], { xLabel: "epoch", legendBottom: true });
    Draw.lineChart($("chart-lr"), [{ label: "learning rate", always: true, points: xy(b, "epoch", "lr") }],
                   { xLabel: "epoch", yMin: 0, legendBottom: true });
    Draw.lineChart($("chart-speed"), [{ label: "samples/s", always: true, color: "#059669",
                                        points: xy(b, "epoch", "samples_per_s") }],
                   { xLabel: "epoch", yMin: 0 });
    const layers = st.layers || [];
    const norm = (key) => layers.map((name, i) => ({
      label: name, points: b.filter((r) => r[key] && r[key][i] > 0).map((r) => [r.epoch, r[key][i]]),
    }));
    Draw.lineChart($("chart-wnorm"), norm("w"), { log: true, xLabel: "epoch" });
    Draw.lineChart($("chart-gnorm"), norm("g"), { log: true, xLabel: "epoch" });
  }

  function pictures(st) {
    const f = st.filters;
    if (f) {
      Draw.tiles($("filters"), f.tiles, { alt: "filter" });
      $("filters-caption").textContent = `of ${f.layer}: ${f.tiles.length} filters, ` +
        `${f.shape.slice(2).join("×")} (blue < 0 < red)`;
    }
    const fm = st.featuremaps, box = $("featuremaps");
    if (!fm) return;
    const rows = [{ layer: "input", tiles: [fm.input], input: true }].concat(fm.layers);
    if (box.children.length !== rows.length) {
      box.textContent = "";
      rows.forEach(() => {
        const row = document.createElement("div"), name = document.createElement("div");
        const tiles = document.createElement("div");
        row.className = "layer"; name.className = "layer-name"; tiles.className = "tiles";
        row.append(name, tiles);
        box.appendChild(row);
      });
    }
    rows.forEach((r, i) => {
      const row = box.children[i];
      row.classList.toggle("input", !!r.input);
      row.children[0].textContent = r.input ? "input" : `${r.layer}: ${r.shape[0]} maps`;
      Draw.tiles(row.children[1], r.tiles, { alt: r.layer });
    });
  }

  function epochView(st) {
    const v = st.epoch_view;
    if (!v) return;
    Draw.heatmap($("confusion"), v.confusion, st.classes);
    $("confusion-caption").textContent = (typeof v.epoch === "number" ? `epoch ${v.epoch}` : v.epoch) +
      ", validation";
    const wrong = (v.misclassified || []).filter((w) => w.image);
    Draw.tiles($("wrong"), wrong.map((w) => w.image), {
      alt: "misclassified", captions: wrong.map((w) => `${label(st, w.label)}→${label(st, w.pred)} ` +
        `${Math.round(100 * w.p)}%`),
    });
    $("wrong-caption").textContent = wrong.length ? "true→predicted, confidence" :
      (v.misclassified || []).length ? "(images need the run's data)" : "none";
  }

  function label(st, k) { return st.classes ? st.classes[k] : String(k); }

  function compare(runs) {
    $("compare").classList.toggle("hidden", runs.length < 2);
    const sel = $("run-select");
    sel.classList.toggle("hidden", runs.length < 2);
    if (runs.length < 2) return;
    if (sel.options.length !== runs.length) {
      sel.textContent = "";
      runs.forEach((r, i) => sel.appendChild(new Option(r.name, String(i))));
    }
    sel.value = String(runIndex);
    const series = (rows, key, field) => runs.map((r) => ({ label: r.name, points: xy(r[rows], field, key),
                                                            dots: rows === "history" }));
    Draw.lineChart($("cmp-loss"), series("history", "val_loss", "epoch"), { xLabel: "epoch" });
    Draw.lineChart($("cmp-acc"), series("history", "val_accuracy", "epoch"), { xLabel: "epoch" });
    Draw.lineChart($("cmp-train"), series("batches", "loss", "epoch"), { xLabel: "epoch" });
  }

  function render() {
    pending = false;
    if (!state) return;
    header(state);
    curves(state);
    pictures(state);
    epochView(state);
    if (state.runs) compare(state.runs);
  }

  function schedule() {
    if (!pending) { pending = true; window.requestAnimationFrame(render); }
  }

  function apply(msg) {
    if (msg.type === "snapshot") {
      const runs = state && state.runs;
      state = msg.state;
      if (runs && !state.runs) state.runs = runs;
    } else if (state) {
      state.batches = state.batches.concat(msg.batches || []);
      state.history = state.history.concat(msg.history || []);
      for (const k of ["status", "progress", "test", "notes", "filters", "featuremaps", "epoch_view"]) {
        if (k in msg) state[k] = msg[k];
      }
    }
    schedule();
  }

  function connect() {
    if (source) source.close();
    source = new EventSource(`/events?run=${runIndex}`);
    source.onmessage = (e) => apply(JSON.parse(e.data));
    source.onerror = () => {
      if (state && TERMINAL.includes(state.status)) { source.close(); return; }
      const badge = $("status");
      badge.textContent = "reconnecting"; badge.className = "badge disconnected";
    };
  }

  function load() {
    fetch(`/api/state?run=${runIndex}`).then((r) => r.json()).then((st) => {
      if (st.error) throw new Error(st.error);
      state = st;
      schedule();
      connect();
    }).catch((err) => { $("status").textContent = "error: " + err.message; });
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("run-select").addEventListener("change", (e) => { runIndex = Number(e.target.value); load(); });
    window.addEventListener("resize", schedule);
    load();
  });
})();
