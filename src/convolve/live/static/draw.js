// Small drawing helpers for convolve's pages: line charts and heat maps on a canvas, and
// grids of image tiles. No libraries. Exposed as window.Draw.
"use strict";

(function () {
  const PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#db2777",
                   "#0891b2", "#65a30d", "#9333ea", "#ea580c", "#475569", "#0d9488"];

  function setup(canvas) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 300, h = canvas.clientHeight || 150;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.font = "11px system-ui, sans-serif";
    return { ctx, w, h };
  }

  function niceTicks(lo, hi, count) {
    const span = hi - lo;
    if (!(span > 0)) return [lo];
    const raw = span / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= count) || 10 * mag;
    const ticks = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
      ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
    }
    return ticks;
  }

  function fmt(v) {
    const a = Math.abs(v);
    if (a === 0) return "0";
    if (a >= 1e4 || a < 1e-3) return v.toExponential(0);
    return String(+v.toPrecision(3));
  }

  // series: [{label, color, points: [[x, y], ...], dots: bool, dash: bool}]
  // opt: {log: bool (y axis), xLabel, yLabel, yMin, yMax}
  function lineChart(canvas, series, opt) {
    opt = opt || {};
    const { ctx, w, h } = setup(canvas);
    const m = { l: 46, r: 10, t: 8, b: 26 };
    const ok = (p) => p && isFinite(p[0]) && p[1] !== null && isFinite(p[1]) &&
                      (!opt.log || p[1] > 0);
    const pts = [].concat(...series.map((s) => s.points.filter(ok)));
    canvas.dataset.points = String(pts.length);
    ctx.fillStyle = "#64748b";
    if (!pts.length) {
      ctx.fillText("no data yet", w / 2 - 28, h / 2);
      return;
    }
    const ty = opt.log ? Math.log10 : (v) => v;
    let x0 = Math.min(...pts.map((p) => p[0])), x1 = Math.max(...pts.map((p) => p[0]));
    let y0 = Math.min(...pts.map((p) => ty(p[1]))), y1 = Math.max(...pts.map((p) => ty(p[1])));
    if (opt.yMin !== undefined) y0 = Math.min(y0, opt.yMin);
    if (opt.yMax !== undefined) y1 = Math.max(y1, opt.yMax);
    if (x1 === x0) { x0 -= 0.5; x1 += 0.5; }
    if (y1 === y0) { const d = Math.abs(y0) * 0.1 || 0.5; y0 -= d; y1 += d; }
    const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
    const X = (v) => m.l + (v - x0) / (x1 - x0) * (w - m.l - m.r);
    const Y = (v) => h - m.b - (ty(v) - y0) / (y1 - y0) * (h - m.t - m.b);
    ctx.strokeStyle = "#e2e8f0"; ctx.lineWidth = 1;
    let yv = niceTicks(y0, y1, 4);
    if (opt.log) {
      yv = yv.filter((t) => Number.isInteger(t)).map((t) => Math.pow(10, t));
      if (yv.length < 2) yv = niceTicks(Math.pow(10, y0), Math.pow(10, y1), 5).filter((v) => v > 0);
    }
    for (const v of yv) {
      const yy = Y(v);
      ctx.beginPath(); ctx.moveTo(m.l, yy); ctx.lineTo(w - m.r, yy); ctx.stroke();
      ctx.fillText(fmt(v), 2, yy + 4);
    }
    for (const t of niceTicks(x0, x1, 6)) {
      const xx = X(t);
      ctx.beginPath(); ctx.moveTo(xx, m.t); ctx.lineTo(xx, h - m.b); ctx.stroke();
      ctx.fillText(fmt(t), xx - 6, h - m.b + 13);
    }
    if (opt.xLabel) ctx.fillText(opt.xLabel, w - m.r - ctx.measureText(opt.xLabel).width, h - 2);
    series.forEach((s, i) => {
      const color = s.color || PALETTE[i % PALETTE.length], p = s.points.filter(ok);
      ctx.strokeStyle = ctx.fillStyle = color; ctx.lineWidth = 1.6;
      ctx.setLineDash(s.dash ? [4, 3] : []);
      if (!s.dots || p.length > 1) {
        ctx.beginPath();
        p.forEach((q, k) => (k ? ctx.lineTo(X(q[0]), Y(q[1])) : ctx.moveTo(X(q[0]), Y(q[1]))));
        ctx.stroke();
      }
      if (s.dots) p.forEach((q) => { ctx.beginPath(); ctx.arc(X(q[0]), Y(q[1]), 2.6, 0, 7); ctx.fill(); });
    });
    ctx.setLineDash([]);
    legend(ctx, series, w - m.r, opt.legendBottom ? h - m.b - 13 * series.filter((s) => s.label).length : m.t);
  }

  function legend(ctx, series, right, top) {
    const named = series.map((s, i) => [s, i]).filter(([s]) => s.label);
    if (named.length < 2 && !(named.length === 1 && named[0][0].always)) return;
    let y = top + 10;
    for (const [s, i] of named) {
      const tw = ctx.measureText(s.label).width;
      ctx.fillStyle = "rgba(255,255,255,0.85)"; ctx.fillRect(right - tw - 20, y - 9, tw + 20, 13);
      ctx.fillStyle = s.color || PALETTE[i % PALETTE.length];
      ctx.fillRect(right - tw - 16, y - 5, 10, 4);
      ctx.fillStyle = "#334155"; ctx.fillText(s.label, right - tw - 2, y);
      y += 13;
    }
  }

  // matrix: rows = true class, columns = predicted; shaded by the row's fraction.
  function heatmap(canvas, matrix, labels) {
    const { ctx, w, h } = setup(canvas);
    const k = matrix.length, m = 22;
    canvas.dataset.cells = String(k * k);
    if (!k) return;
    const size = Math.min((w - m) / k, (h - m) / k);
    ctx.textAlign = "center"; ctx.textBaseline = "middle";
    for (let i = 0; i < k; i++) {
      const total = matrix[i].reduce((a, b) => a + b, 0) || 1;
      for (let j = 0; j < k; j++) {
        const f = matrix[i][j] / total, x = m + j * size, y = m + i * size;
        ctx.fillStyle = i === j ? `rgba(5,150,105,${0.1 + 0.9 * f})` : `rgba(220,38,38,${f ? 0.12 + 0.88 * f : 0})`;
        ctx.fillRect(x, y, size - 1, size - 1);
        if (size >= 16 && matrix[i][j]) {
          ctx.fillStyle = f > 0.55 ? "#fff" : "#1e293b";
          ctx.fillText(String(matrix[i][j]), x + size / 2, y + size / 2);
        }
      }
      ctx.fillStyle = "#475569";
      ctx.fillText(labels ? labels[i] : String(i), m / 2, m + (i + 0.5) * size);
      ctx.fillText(labels ? labels[i] : String(i), m + (i + 0.5) * size, m / 2);
    }
    ctx.textAlign = "start"; ctx.textBaseline = "alphabetic";
  }

  // Fill container with one <figure> per url (reusing the elements when the count is the
  // same, so live updates do not flicker); captions optional.
  function tiles(container, urls, opt) {
    opt = opt || {};
    const figs = container.querySelectorAll("figure");
    if (figs.length !== urls.length) {
      container.textContent = "";
      urls.forEach(() => {
        const fig = document.createElement("figure"), img = document.createElement("img");
        img.className = "tile" + (opt.className ? " " + opt.className : "");
        img.alt = opt.alt || "";
        fig.appendChild(img);
        if (opt.captions) fig.appendChild(document.createElement("figcaption"));
        container.appendChild(fig);
      });
    }
    container.querySelectorAll("figure").forEach((fig, i) => {
      const img = fig.querySelector("img");
      if (img.getAttribute("src") !== urls[i]) img.src = urls[i];
      const cap = fig.querySelector("figcaption");
      if (cap && opt.captions) cap.textContent = opt.captions[i];
    });
  }

  window.Draw = { PALETTE, lineChart, heatmap, tiles, fmt };
})();
