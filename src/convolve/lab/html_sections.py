"""The sections of report.html, built from a result dict and the figures' PNG bytes."""

from __future__ import annotations

from .report import img, paragraph, pct, rf_text, table, verdict_list

COMPARE_SECTIONS = ("Settings", "Verdicts", "Results", "Parameter sharing",
                    "Sparsity of connections", "Translation invariance",
                    "Overfitting and sample efficiency", "Filters and feature maps", "Method")
PAPER_SECTIONS = ("Settings", "Verdicts", "MNIST-1D replication", "Learning curves",
                  "Filters and feature maps", "Method")


def _settings(result: dict) -> str:
    d, s = result["data"], result["settings"]
    rows = [["data", f"{d['name']} ({d['source']})"],
            ["train / test", f"{d['train_size']} / {d['test_size']}"],
            ["sample shape", "x".join(map(str, d["sample_shape"]))]]
    rows += [[k, ", ".join(map(str, v)) if isinstance(v, list) else v] for k, v in s.items()
             if k != "permutation"]
    if "permutation" in s:
        rows.append(["shuffling", (f"one fixed permutation of the {len(s['permutation'])} "
                                  f"positions (seed {s['seed']}; listed in report.json)")])
    rows.append(["wall time", f"{result.get('wall_seconds', 0):.0f} s"])
    env = result.get("environment", {})
    rows.append(["environment", ", ".join(f"{k} {v}" for k, v in env.items())])
    return table(["setting", "value"], rows)


def _results(result: dict) -> str:
    from .comparison import shift_rows, structure_rows

    return table(*structure_rows(result["models"])) + table(*shift_rows(result["models"])) \
        + paragraph(
        "Conn./unit: inputs a first-layer output unit depends on, counted as the nonzero "
        "entries of d(unit)/d(input) from a backward pass (mean over sampled units in the "
        "centre of the map), with the fraction of all inputs. RF: receptive field of the last "
        "feature map (analytic). k px: test accuracy for inputs shifted k pixels (mean of the "
        "4 directions, zero fill). Consist.: Zhang's consistency. P(top1 chg), MAC: Azulay & "
        "Weiss for a 1-pixel shift. Equiv. err: first-layer equivariance error.")


def _sharing(result: dict, figs: dict) -> str:
    e = result["worked_example"]
    rows = [[k, f"{v['params']:,}", v["source"]] for k, v in e["counts"].items()]
    dense_eq = []
    for r in result["models"].values():
        for layer, n in r.get("dense_equivalent", {}).items():
            own = next(x["params"] for x in r["layers"] if x["name"] == layer)
            dense_eq.append([f"{r['label']} layer {layer}", f"{own:,}", f"{n:,}"])
    return (paragraph(f"The seed's example, computed from instantiated layers: "
                      f"{'x'.join(map(str, e['input']))} -> {'x'.join(map(str, e['output']))}: "
                      f"dense {e['dense']:,} = {e['dense_formula']}; conv {e['conv']:,} = "
                      f"{e['conv_formula']} ({e['ratio']:,.0f}x fewer).")
            + table(["layer", "parameters", "counted from"], rows)
            + img(figs["parameter_growth"], "parameter growth against image size")
            + paragraph("Each spatial layer of the compared models against the dense layer "
                        "that would connect the same input and output:")
            + table(["layer", "parameters", "dense equivalent"], dense_eq))


def _sparsity(result: dict) -> str:
    rows = []
    for r in result["models"].values():
        c = r["connections"]
        rows.append([r["label"], f"{c['mean']:.1f}", f"{c['min']}-{c['max']}",
                     f"{c['per_input_channel']:.1f}", c["inputs"], pct(c["fraction"], 2),
                     rf_text(r["receptive_field"]), rf_text(r.get("receptive_field_measured"))])
    return table(["model", "connections / unit", "range", "per input channel", "inputs",
                  "fraction", "RF (analytic)", "RF (measured)"], rows) + paragraph(
        "Measured RF: extent of the inputs with nonzero gradient for the centre unit of the last "
        "feature map, union over 32 random inputs (ReLU and max pooling pass gradient to a "
        "subset of the window per input).")


def _invariance(result: dict, figs: dict) -> str:
    rows = []
    for r in result["models"].values():
        s, eq = r["shift"], r["equivariance"]
        accs = [pct(s["accuracy"][k]) for k in sorted(s["accuracy"])]
        rows.append([r["label"], *accs, pct(s["consistency"]),
                     pct(s["top1_change"]["p_change"]), f"{s['top1_change']['mac']:.3f}",
                     "n/a" if eq["error"] is None else f"{eq['error']:.2e}"])
    any_r = next(iter(result["models"].values()))
    shifts = [f"acc {k} px" for k in sorted(any_r["shift"]["accuracy"])]
    notes = [f"{r['label']}: {r['equivariance']['note']}" for r in result["models"].values()
             if r["equivariance"]["error"] is None]
    return (table(["model", *shifts, "consistency", "P(top-1 change)", "MAC",
                   "first-layer equivariance error"], rows)
            + img(figs["shift_accuracy"], "accuracy against shift")
            + "".join(paragraph(n) for n in notes))


def _overfitting(result: dict, figs: dict) -> str:
    rows = [[r["label"], pct(r["train_accuracy"]), pct(r["test_accuracy"]),
             f"{100 * r['gap']:.1f}", f"{r['train_seconds']:.1f} s"]
            for r in result["models"].values()]
    body = table(["model", "train", "test", "gap (points)", "training time"], rows)
    body += img(figs["learning_curves"], "learning curves")
    if "sample_efficiency" in figs:
        sizes = sorted({int(n) for r in result["models"].values()
                        for n in (r.get("sample_efficiency") or {})})
        srows = [[r["label"], *[pct((r.get("sample_efficiency") or {}).get(n)) for n in sizes]]
                 for r in result["models"].values()]
        body += table(["model", *[f"{n} samples" for n in sizes]], srows)
        body += paragraph(f"Subsets are stratified; each run gets "
                          f"{result['settings']['size_steps']}.")
        body += img(figs["sample_efficiency"], "accuracy against training-set size")
    else:
        body += paragraph("Sample efficiency not measured (this run had --sizes none).")
    return body


def _maps(figs: dict, note: str = "") -> str:
    return (img(figs["filters"], "first-layer filters")
            + img(figs["feature_maps"], "first-layer feature maps of one test input")
            + (paragraph(note) if note else ""))


MAPS_NOTE = ("Feature maps: the first layer's output for the first test image (before the "
             "ReLU). The MLP has none to show: its first layer's outputs are hidden units "
             "without a spatial arrangement.")


METHOD = (
    "All models see the same data, optimizer, learning rate, epochs, batch size and seed; "
    "none was tuned per model. Shifted inputs are translated with zero fill. Consistency "
    "(Zhang 2019): each test input gets two independent random shifts of up to 3 px per axis; "
    "the percentage with the same predicted class. P(top-1 change) and MAC (Azulay & Weiss "
    "2019): for a 1-px shift (mean over 4 directions), the fraction of inputs whose top class "
    "changes and the mean absolute change of the probability of the original top class. "
    "Equivariance error: ||layer(shift(x)) - shift(layer(x))|| / ||shift(layer(x))|| for a "
    "1-px shift on 64 test inputs, over the interior of the map. A difference of two test "
    "accuracies is called significant when it exceeds twice its binomial standard error.")


PAPER_MAPS_NOTE = ("Filters: the logistic regression's weights (one per input position, on the "
                   "regular sequences) and the CNN's first Conv1d kernels. Feature maps: the "
                   "CNN's first-layer output (before the ReLU) for the first test sequence.")


def compare_sections(result: dict, figs: dict) -> list:
    return [("Settings", _settings(result)),
            ("Verdicts", verdict_list(result["verdicts"])),
            ("Results", _results(result)),
            ("Parameter sharing", _sharing(result, figs)),
            ("Sparsity of connections", _sparsity(result)),
            ("Translation invariance", _invariance(result, figs)),
            ("Overfitting and sample efficiency", _overfitting(result, figs)),
            ("Filters and feature maps", _maps(figs, MAPS_NOTE)),
            ("Method", paragraph(METHOD))]


def paper_sections(result: dict, figs: dict) -> list:
    rows = [[k, pct(result["paper"][k], 0), pct(result["ours"].get(k)),
             f"{100 * (result['ours'][k] - result['paper'][k]):+.1f}"
             if result["ours"].get(k) is not None else "n/a"] for k in result["paper"]]
    mrows = [[r["label"], r["variant"], f"{r['params']:,}", pct(r["train_accuracy"]),
              pct(r["test_accuracy"]), f"{r['train_seconds']:.1f} s"]
             for r in result["runs"].values()]
    return [("Settings", _settings(result)),
            ("Verdicts", verdict_list(result["verdicts"])),
            ("MNIST-1D replication",
             table(["model", "paper", "convolve", "difference (points)"], rows)
             + img(figs["paper"], "ours against the paper")
             + table(["model", "sequences", "params", "train", "test", "training time"], mrows)
             + paragraph(result["notes"])),
            ("Learning curves", img(figs["learning_curves"], "learning curves")),
            ("Filters and feature maps", _maps(figs, PAPER_MAPS_NOTE)),
            ("Method", paragraph(result["method"]))]
