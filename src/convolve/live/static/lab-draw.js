/* Drawing helpers of the lab page (no libraries): probability bars, grayscale images on a
   canvas, feature-map grids, a line chart in SVG, and the drawing pad with its
   downsampling to the models' input size. Exposed as the global LabDraw. */
"use strict";

const LabDraw = (() => {
  const SVG_NS = "http://www.w3.org/2000/svg";

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function pct(p) { return (100 * p).toFixed(1) + "%"; }

  /* One row per class: label, a bar whose width is the probability, the percentage. */
  function bars(container, probs, classes) {
    if (container.children.length !== classes.length) {
      container.replaceChildren();
      classes.forEach((c) => {
        const row = el("div", "bar");
        row.dataset.class = c;
        const track = el("span", "track");
        track.append(el("span", "fill"));
        row.append(el("span", "cls", c), track, el("span", "pct"));
        container.append(row);
      });
    }
    let best = 0;
    probs.forEach((p, i) => { if (p > probs[best]) best = i; });
    Array.from(container.children).forEach((row, i) => {
      const p = probs[i] === undefined ? 0 : probs[i];
      row.querySelector(".fill").style.width = (100 * p).toFixed(2) + "%";
      row.querySelector(".pct").textContent = probs.length ? pct(p) : "";
      row.classList.toggle("top", probs.length > 0 && i === best);
    });
    return best;
  }

  /* An image (H x W, or C x H x W with C = 3 shown as RGB, else its first channel) of
     values in [0, 1], one canvas pixel per image pixel (CSS scales it up). */
  function pixels(canvas, image, scale) {
    let rgb = null;
    let plane = image;
    if (Array.isArray(image[0][0])) {
      if (image.length === 3) rgb = image;
      plane = image[0];
    }
    const h = plane.length;
    const w = plane[0].length;
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(w, h);
    const s = scale || 1;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const o = 4 * (y * w + x);
        const v = (ch) => Math.max(0, Math.min(255, Math.round(255 * ch[y][x] / s)));
        img.data[o] = v(rgb ? rgb[0] : plane);
        img.data[o + 1] = v(rgb ? rgb[1] : plane);
        img.data[o + 2] = v(rgb ? rgb[2] : plane);
        img.data[o + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
  }

  /* One small canvas per channel, all on one scale (the largest value of the maps). */
  function maps(container, channels) {
    let top = 0;
    channels.forEach((m) => m.forEach((r) => r.forEach((v) => { top = Math.max(top, v); })));
    if (container.children.length !== channels.length) {
      container.replaceChildren(...channels.map(() => el("canvas", "pixels map")));
    }
    channels.forEach((m, i) => pixels(container.children[i], m, top > 0 ? top : 1));
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG_NS, tag);
    Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  /* Lines of [x, y] points (y in [0, 1], integer x) in an SVG: series = [{name, color,
     points}]; marker: an x to draw a vertical line at (or undefined). */
  function lineChart(root, series, xLabel, yLabel, marker) {
    const W = 420, H = 230, L = 44, R = 10, T = 22, B = 34;
    root.setAttribute("viewBox", `0 0 ${W} ${H}`);
    root.replaceChildren();
    const xs = series.flatMap((s) => s.points.map((p) => p[0]));
    const x0 = xs.length ? Math.min(...xs) : 1, x1 = xs.length ? Math.max(...xs) : 1;
    const X = (x) => L + (W - L - R) * (x1 > x0 ? (x - x0) / (x1 - x0) : 0.5);
    const Y = (y) => T + (H - T - B) * (1 - y);
    for (let g = 0; g <= 4; g++) {
      const y = g / 4;
      root.append(svg("line", {x1: L, x2: W - R, y1: Y(y), y2: Y(y), class: "grid"}));
      root.append(svg("text", {x: L - 6, y: Y(y) + 4, class: "tick end"}, `${100 * y}%`));
    }
    const every = [1, 2, 5, 10, 20, 50, 100].find((e) => (x1 - x0) / e <= 12) || 200;
    for (let x = x0; x <= x1; x++) {
      if (x % every === 0 || (every > 1 && x === x0 && x0 === 1)) {
        root.append(svg("text", {x: X(x), y: H - B + 16, class: "tick mid"}, String(x)));
      }
    }
    root.append(svg("text", {x: (L + W - R) / 2, y: H - 4, class: "tick mid"}, xLabel));
    root.append(svg("text", {x: 4, y: 11, class: "tick"}, yLabel));
    if (marker !== undefined && xs.length) {
      root.append(svg("line", {x1: X(marker), x2: X(marker), y1: T, y2: H - B,
                               class: "marker"}));
    }
    series.forEach((s) => {
      if (!s.points.length) return;
      const pts = s.points.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(" ");
      const line = svg("polyline", {points: pts, class: "series"});
      line.style.stroke = s.color;
      line.dataset.model = s.name;
      root.append(line);
    });
  }

  /* A black pad drawn on in white with the mouse, a pen or a finger (pointer events).
     onStroke() runs while drawing, onEnd() when a stroke ends. */
  function pad(canvas, lineWidth, onStroke, onEnd) {
    const ctx = canvas.getContext("2d", {willReadFrequently: true});
    let last = null;
    const clear = () => {
      ctx.fillStyle = "#000";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
    };
    const at = (ev) => {
      const r = canvas.getBoundingClientRect();
      return [(ev.clientX - r.left) * canvas.width / r.width,
              (ev.clientY - r.top) * canvas.height / r.height];
    };
    const line = (a, b) => {
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = lineWidth;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      ctx.beginPath();
      ctx.moveTo(a[0], a[1]);
      ctx.lineTo(b[0], b[1]);
      ctx.stroke();
    };
    canvas.addEventListener("pointerdown", (ev) => {
      ev.preventDefault();
      canvas.setPointerCapture(ev.pointerId);
      last = at(ev);
      line(last, last);
      onStroke();
    });
    canvas.addEventListener("pointermove", (ev) => {
      if (!last) return;
      const p = at(ev);
      line(last, p);
      last = p;
      onStroke();
    });
    const end = () => { if (last) { last = null; onEnd(); } };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    clear();
    return {clear};
  }

  /* image shifted by whole pixels so its centre of mass is the frame's centre (as MNIST's
     digits are), zero fill. */
  function centre(image) {
    const h = image.length, w = image[0].length;
    let m = 0, my = 0, mx = 0;
    image.forEach((r, i) => r.forEach((v, j) => { m += v; my += v * i; mx += v * j; }));
    if (!(m > 0)) return image;
    const dy = Math.round((h - 1) / 2 - my / m), dx = Math.round((w - 1) / 2 - mx / m);
    return image.map((r, i) => r.map((_, j) => {
      const y = i - dy, x = j - dx;
      return y >= 0 && y < h && x >= 0 && x < w ? image[y][x] : 0;
    }));
  }

  /* The pad's ink as an h x w image for the models: the ink's bounding box scaled (aspect
     kept) to fit a box x box square centred in the frame, averaged over blocks, scaled so
     the brightest pixel is 1; when the box leaves a margin (MNIST: 20 of 28 pixels),
     then moved so its centre of mass is the frame's centre. null when nothing is drawn. */
  function downsample(canvas, h, w, box) {
    const W = canvas.width, H = canvas.height;
    const src = canvas.getContext("2d").getImageData(0, 0, W, H).data;
    let x0 = W, y0 = H, x1 = -1, y1 = -1;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        if (src[4 * (y * W + x)] > 20) {
          x0 = Math.min(x0, x); x1 = Math.max(x1, x);
          y0 = Math.min(y0, y); y1 = Math.max(y1, y);
        }
      }
    }
    if (x1 < 0) return null;
    const S = 10;
    const tmp = document.createElement("canvas");
    tmp.width = w * S;
    tmp.height = h * S;
    const t = tmp.getContext("2d", {willReadFrequently: true});
    t.fillStyle = "#000";
    t.fillRect(0, 0, tmp.width, tmp.height);
    const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
    const k = box * S / Math.max(bw, bh);
    t.imageSmoothingEnabled = true;
    t.imageSmoothingQuality = "high";
    t.drawImage(canvas, x0, y0, bw, bh, (tmp.width - bw * k) / 2, (tmp.height - bh * k) / 2,
                bw * k, bh * k);
    const d = t.getImageData(0, 0, tmp.width, tmp.height).data;
    const out = [];
    let top = 0;
    for (let i = 0; i < h; i++) {
      const row = [];
      for (let j = 0; j < w; j++) {
        let s = 0;
        for (let y = i * S; y < (i + 1) * S; y++) {
          for (let x = j * S; x < (j + 1) * S; x++) s += d[4 * (y * tmp.width + x)];
        }
        const v = s / (S * S * 255);
        top = Math.max(top, v);
        row.push(v);
      }
      out.push(row);
    }
    if (!(top > 0)) return null;
    const scaled = out.map((r) => r.map((v) => Math.round(1000 * Math.min(1, v / top)) / 1000));
    return box < Math.min(h, w) ? centre(scaled) : scaled;
  }

  return {el, pct, bars, pixels, maps, lineChart, pad, downsample};
})();
