/* The lab page: wires the drawing pad, the shift explorer, the calculator and the training
   panel to the JSON endpoints of convolve.live.lab_app. Drawing helpers: lab-draw.js. */
"use strict";

(() => {
  const COLORS = {mlp: "#d62728", lc: "#ff7f0e", cnn: "#1f77b4", cnn_blur: "#2ca02c"};
  const $ = (id) => document.getElementById(id);
  const el = LabDraw.el;
  let info = null;                         // /api/models
  let ready = 0;                           // models ready at the last poll
  const shift = {index: 0, dx: 0, dy: 0};
  const seq = {draw: 0, shift: 0};
  let drawTimer = null;
  let drawn = false;
  let curve = null;                        // /api/shift-curve of the current test image

  async function api(url, body) {
    const opts = body === undefined ? {} : {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
    const r = await fetch(url, opts);
    const value = await r.json();
    if (!r.ok) throw new Error(value.error || r.statusText);
    return value;
  }

  function say(text, isError) {
    $("status").textContent = text;
    $("status").classList.toggle("error", Boolean(isError));
  }

  function fmt(n) { return n === null || n === undefined ? "–" : n.toLocaleString("en-US"); }

  /* One panel per model: name and size, the prediction, the probability bars. */
  function buildPanels(container) {
    container.replaceChildren(...info.models.map((m) => {
      const panel = el("div", "model pending");
      panel.dataset.model = m.name;
      const title = el("h3", "", m.label + " ");
      title.append(el("small", "params", ""));
      const swatch = el("span", "swatch");
      swatch.style.background = COLORS[m.name] || "#888";
      title.prepend(swatch);
      panel.append(title, el("p", "pred", "…"), el("div", "bars"));
      return panel;
    }));
  }

  function showParams() {
    document.querySelectorAll(".model").forEach((panel) => {
      const m = info.models.find((x) => x.name === panel.dataset.model);
      panel.querySelector(".params").textContent = m.params ? `${fmt(m.params)} parameters` : "";
    });
  }

  function render(container, result) {
    info.models.forEach((m) => {
      const panel = container.querySelector(`[data-model="${m.name}"]`);
      const r = result ? result.models[m.name] : null;
      const bars = panel.querySelector(".bars");
      panel.classList.toggle("pending", !r);
      if (!r) {
        LabDraw.bars(bars, [], info.classes);
        panel.querySelector(".pred").textContent = result ? "still training…" : "—";
        delete panel.dataset.pred;
        return;
      }
      const best = LabDraw.bars(bars, r.probs, info.classes);
      panel.dataset.pred = info.classes[best];
      panel.querySelector(".pred").textContent =
        `predicts ${info.classes[best]} (${LabDraw.pct(r.probs[best])})`;
    });
  }

  // ------------------------------------------------------------------------------ drawing
  function channels(plane) {
    const c = info.input_shape[0];
    return c === 1 ? plane : Array.from({length: c}, () => plane);
  }

  async function predictDrawing() {
    drawTimer = null;
    const [, h, w] = info.input_shape;
    const plane = LabDraw.downsample($("pad"), h, w, info.draw_box);
    if (!plane || !ready) {
      delete $("draw-results").dataset.sent;
      return;
    }
    LabDraw.pixels($("pad-input"), plane);
    const mine = ++seq.draw;
    const box = $("draw-results");
    box.dataset.sent = String(mine);  // for scripts and tests: which request is shown
    try {
      const r = await api("/api/predict", {pixels: channels(plane)});
      if (mine !== seq.draw) return;
      render(box, r);
      box.dataset.shown = String(mine);
    } catch (err) {
      say(`prediction failed: ${err.message}`, true);
    }
  }

  function scheduleDrawing(delay) {
    drawn = true;
    $("draw-results").dataset.sent = "pending";
    if (drawTimer) clearTimeout(drawTimer);
    drawTimer = setTimeout(predictDrawing, delay);
  }

  function setupPad() {
    const h = info.input_shape[1];
    const pad = LabDraw.pad($("pad"), h < 16 ? 30 : 22, () => scheduleDrawing(150),
                            () => scheduleDrawing(0));
    $("clear").addEventListener("click", () => {
      pad.clear();
      drawn = false;
      seq.draw++;
      $("pad-input").getContext("2d").clearRect(0, 0, $("pad-input").width, $("pad-input").height);
      render($("draw-results"), null);
    });
    render($("draw-results"), null);
  }

  // ------------------------------------------------------------------------------ shifting
  function setShift(index, dx, dy) {
    const n = info.test_count, m = info.max_shift;
    const changed = index !== shift.index;
    shift.index = ((index % n) + n) % n;
    shift.dx = Math.max(-m, Math.min(m, dx));
    shift.dy = Math.max(-m, Math.min(m, dy));
    $("dx").value = shift.dx;
    $("dy").value = shift.dy;
    $("dx-value").textContent = shift.dx;
    $("dy-value").textContent = shift.dy;
    if (changed || !$("image-info").textContent) showLabel();
    if (changed || !curve) loadCurve();
    else drawCurves();
    predictShift();
  }

  function drawCurves() {
    ["dx", "dy"].forEach((axis) => {
      const series = info.models.filter((m) => curve && curve[axis][m.name]).map((m) => ({
        name: m.name, color: COLORS[m.name] || "#888",
        points: curve.shifts.map((d, i) => [d, curve[axis][m.name][i]])}));
      const root = $(`curve-${axis}`);
      LabDraw.lineChart(root, series, `${axis} (pixels)`,
                        curve ? `P(label ${curve.label})` : "", shift[axis]);
      if (curve) root.dataset.index = String(curve.index);
    });
  }

  async function loadCurve() {
    if (!ready) return;
    const index = shift.index;
    try {
      const r = await api(`/api/shift-curve?index=${index}`);
      if (index !== shift.index) return;
      curve = r;
      drawCurves();
    } catch (err) {
      say(`cannot compute the shift curves: ${err.message}`, true);
    }
  }

  async function showLabel() {
    const index = shift.index;
    let r;
    try {
      r = await api(`/api/test-image?index=${index}`);
    } catch (err) {
      say(`cannot load test image ${index}: ${err.message}`, true);
      return;
    }
    if (index === shift.index) {
      $("image-info").textContent = `test image ${index + 1} of ${r.count}, label ${r.label}`;
    }
  }

  function renderMaps(result) {
    const box = $("feature-maps");
    info.models.filter((m) => m.feature_maps).forEach((m) => {
      let row = box.querySelector(`[data-model="${m.name}"]`);
      if (!row) {
        row = el("div", "maprow");
        row.dataset.model = m.name;
        row.append(el("h4", "", m.label), el("div", "maps"));
        box.append(row);
      }
      const fm = result.feature_maps[m.name];
      row.querySelector("h4").textContent = fm ? `${m.label} (${fm.layer})` : `${m.label}: training…`;
      if (fm) LabDraw.maps(row.querySelector(".maps"), fm.maps);
    });
  }

  async function predictShift() {
    if (!ready) return;
    const mine = ++seq.shift;
    const {index, dx, dy} = shift;
    try {
      const r = await api("/api/predict", {index, dx, dy, maps: true});
      if (mine !== seq.shift) return;
      LabDraw.pixels($("shift-input"), r.input);
      render($("shift-results"), r);
      renderMaps(r);
      Object.assign($("shift-results").dataset, {index: String(index), dx: String(dx),
                                                  dy: String(dy)});
      document.body.dataset.ready = "1";
    } catch (err) {
      say(`prediction failed: ${err.message}`, true);
    }
  }

  function setupShift() {
    const m = info.max_shift;
    ["dx", "dy"].forEach((k) => {
      $(k).min = -m;
      $(k).max = m;
      $(k).addEventListener("input", () => {
        const v = Number($(k).value);
        setShift(shift.index, k === "dx" ? v : shift.dx, k === "dy" ? v : shift.dy);
      });
    });
    $("prev").addEventListener("click", () => setShift(shift.index - 1, shift.dx, shift.dy));
    $("next").addEventListener("click", () => setShift(shift.index + 1, shift.dx, shift.dy));
    $("random").addEventListener("click", () =>
      setShift(Math.floor(Math.random() * info.test_count), shift.dx, shift.dy));
    $("reset-shift").addEventListener("click", () => setShift(shift.index, 0, 0));
    document.addEventListener("keydown", (ev) => {
      if (ev.target instanceof HTMLInputElement || ev.altKey || ev.ctrlKey || ev.metaKey) return;
      const step = {ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1]};
      const d = step[ev.key];
      if (!d) return;
      ev.preventDefault();
      setShift(shift.index, shift.dx + d[0], shift.dy + d[1]);
    });
    render($("shift-results"), null);
  }

  // ------------------------------------------------------------------------------ training
  function renderTraining(state) {
    const series = info.models.map((m) => ({
      name: m.name, color: COLORS[m.name] || "#888",
      points: (state.history[m.name] || []).filter((e) => e.val_accuracy !== null &&
                                                          e.val_accuracy !== undefined)
        .map((e) => [e.epoch, e.val_accuracy])}));
    LabDraw.lineChart($("curves"), series, "epoch", "validation accuracy");
    const body = $("model-table").querySelector("tbody");
    body.replaceChildren(...info.models.map((m) => {
      const s = state.models[m.name] || {};
      const tr = el("tr");
      tr.dataset.model = m.name;
      const name = el("td", "", m.label);
      const swatch = el("span", "swatch");
      swatch.style.background = COLORS[m.name] || "#888";
      name.prepend(swatch);
      const acc = s.test_accuracy === null || s.test_accuracy === undefined ? "–"
        : LabDraw.pct(s.test_accuracy);
      const done = (state.history[m.name] || []).length;
      tr.append(name, el("td", "num", fmt(s.params)),
                el("td", "num", s.epochs ? String(s.epochs) : `${done}…`), el("td", "num", acc));
      return tr;
    }));
  }

  async function poll() {
    let state;
    try {
      state = await api("/api/state");
    } catch (err) {
      say(`cannot reach the server: ${err.message}`, true);
      return;
    }
    renderTraining(state);
    document.body.dataset.status = state.status;
    if (state.status === "running") say(`training: ${state.message}`);
    else if (state.status === "failed") say(`training failed: ${state.message}`, true);
    else say(`models ${state.source}`);
    if (state.ready.length !== ready) {
      try {
        info = await api("/api/models");
      } catch (err) {
        say(`cannot reach the server: ${err.message}`, true);
        return;
      }
      ready = state.ready.length;
      showParams();
      predictShift();
      loadCurve();
      if (drawn) predictDrawing();
    }
    if (state.status === "running") setTimeout(poll, 1000);
  }

  async function main() {
    LabCalc.attach();
    try {
      info = await api("/api/models");
    } catch (err) {
      say(`cannot reach the server: ${err.message}`, true);
      return;
    }
    $("data-name").textContent =
      `${info.data.name} (${info.input_shape.join("×")} images, ${info.classes.length} classes)`;
    document.querySelectorAll(".legend").forEach((box) => {
      box.replaceChildren(...info.models.map((m) => {
        const item = el("span", "legend-item", m.label);
        const swatch = el("span", "swatch");
        swatch.style.background = COLORS[m.name] || "#888";
        item.prepend(swatch);
        return item;
      }));
    });
    buildPanels($("draw-results"));
    buildPanels($("shift-results"));
    setupPad();
    setupShift();
    setShift(0, 0, 0);
    poll();
  }

  main();
})();
