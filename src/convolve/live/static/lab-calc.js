/* The parameter calculator of the lab page: the seed's example, an n x n image with c_in
   channels mapped to c_out maps of (n-k+1) x (n-k+1) by a dense layer, a locally-connected
   k x k layer and a k x k conv layer. Exact integers (BigInt); the same formulas as
   convolve.lab.params.layer_formulas, served as /api/params (the tests compare the two). */
"use strict";

const LabCalc = (() => {
  const BOUNDS = {n: [1, 100000], c_in: [1, 4096], c_out: [1, 4096], k: [1, 1000]};
  const KINDS = ["dense", "locally_connected", "conv"];

  /* {dense, locally_connected, conv} as BigInt, or throws an Error saying what is wrong. */
  function counts(n, cIn, cOut, k) {
    const v = {n, c_in: cIn, c_out: cOut, k};
    for (const [name, [lo, hi]] of Object.entries(BOUNDS)) {
      if (!Number.isInteger(v[name]) || v[name] < lo || v[name] > hi) {
        throw new Error(`${name} must be an integer in ${lo}..${hi}`);
      }
    }
    if (k > n) throw new Error(`the kernel (k=${k}) is larger than the image (n=${n})`);
    const N = BigInt(n), CI = BigInt(cIn), CO = BigInt(cOut), K = BigInt(k);
    const M = N - K + 1n;
    const nIn = CI * N * N, nOut = CO * M * M;
    return {dense: nIn * nOut + nOut, locally_connected: nOut * (CI * K * K) + nOut,
            conv: CO * CI * K * K + CO};
  }

  function formulas(n, cIn, cOut, k) {
    const m = n - k + 1;
    return {dense: `(${cIn}·${n}·${n}) · (${cOut}·${m}·${m}) + ${cOut}·${m}·${m}`,
            locally_connected: `(${cOut}·${m}·${m}) · (${cIn}·${k}·${k}) + ${cOut}·${m}·${m}`,
            conv: `${cOut}·${cIn}·${k}·${k} + ${cOut}`};
  }

  function times(x) {
    return x >= 1000 ? Math.round(x).toLocaleString("en-US") : x.toPrecision(3);
  }

  function group(big) { return big.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ","); }

  function bytes(big) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let v = Number(big * 4n);
    let u = 0;
    while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
    return `${v < 10 && u ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
  }

  /* Wire the form: inputs #calc-n, #calc-c_in, #calc-c_out, #calc-k; rows #calc-<kind>. */
  function attach() {
    const input = (name) => document.getElementById(`calc-${name}`);
    const message = document.getElementById("calc-message");
    const update = () => {
      const [n, cIn, cOut, k] = ["n", "c_in", "c_out", "k"].map((x) => Number(input(x).value));
      let c;
      try {
        c = counts(n, cIn, cOut, k);
      } catch (err) {
        message.textContent = err.message;
        KINDS.forEach((kind) => {
          const row = document.getElementById(`calc-${kind}`);
          row.dataset.value = "";
          row.querySelectorAll("td:not(:first-child)").forEach((td) => { td.textContent = "–"; });
        });
        return;
      }
      const f = formulas(n, cIn, cOut, k);
      const m = n - k + 1;
      message.textContent = `${cIn}×${n}×${n} input → ${cOut}×${m}×${m} output, ` +
        `${k}×${k} kernels: the dense layer has ${times(Number(c.dense) / Number(c.conv))} times the conv layer's parameters.`;
      const top = Math.log10(Number(c.dense) + 1);
      KINDS.forEach((kind) => {
        const row = document.getElementById(`calc-${kind}`);
        row.dataset.value = c[kind].toString();
        row.querySelector(".formula").textContent = f[kind];
        row.querySelector(".count").textContent = group(c[kind]);
        row.querySelector(".memory").textContent = bytes(c[kind]);
        row.querySelector(".ratio").textContent =
          `${times(Number(c[kind]) / Number(c.conv))}×`;
        const fill = row.querySelector(".fill");
        fill.style.width = `${(100 * Math.log10(Number(c[kind]) + 1) / top).toFixed(1)}%`;
      });
    };
    ["n", "c_in", "c_out", "k"].forEach((x) => {
      const [lo, hi] = BOUNDS[x];
      input(x).min = lo;
      input(x).max = hi;
      input(x).addEventListener("input", update);
    });
    update();
  }

  return {counts, formulas, attach, times, BOUNDS};
})();
