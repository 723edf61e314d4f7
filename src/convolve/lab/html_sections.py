"""The sections of report.html, built from a multi-seed result dict and the figures' PNG
bytes. Figures are "mean [95% CI]" over seeds, in percent unless marked."""

from __future__ import annotations

from .report import img, paragraph, pct, rf_text, table, verdict_list

COMPARE_SECTIONS = ("Settings", "Statistics and data splits", "Verdicts", "Results",
                    "Parameter sharing",
                    "Sparsity of connections", "Translation invariance",
                    "Overfitting and sample efficiency", "Filters and feature maps", "Method")
PAPER_SECTIONS = ("Settings", "Statistics and data splits", "Verdicts",
                  "MNIST-1D replication", "Learning curves",
                  "Filters and feature maps", "Method")


def _settings(result: dict) -> str:
    d, s = result["data"], result["settings"]
    rows = [["data", f"{d['name']} ({d['source']})"],
            ["train / validation / test", (f"{d['train_size']} / {d.get('val_size', 0)} / "
                                          f"{d['test_size']}")],
            ["seeds", (f"{', '.join(map(str, result['seeds']))} ({len(result['seeds'])}; "
                      f"{result['workers']} worker process(es))")],
            ["sample shape", "x".join(map(str, d["sample_shape"]))]]
    rows += [[k, ", ".join(map(str, v)) if isinstance(v, list) else v] for k, v in s.items()
             if v is not None]
    if result["kind"] == "paper":
        rows.append(["shuffling", ("one permutation of the positions per seed (drawn from "
                                  "the seed; listed in report.json under per_seed)")])
    rows.append(["wall time", f"{result.get('wall_seconds', 0):.0f} s"])
    env = result.get("environment", {})
    rows.append(["environment", ", ".join(f"{k} {v}" for k, v in env.items())])
    return table(["setting", "value"], rows)


def _statistics(result: dict) -> str:
    st = result["statistics"]
    rows = [[k, v] for k, v in result["splits"].items()]
    return (paragraph(f"Every figure is the mean over {len(result['seeds'])} seed(s) with its "
                      f"{st['interval']} in brackets; report.json has the per-seed values.")
            + paragraph(st["rule"])
            + (paragraph(st["replication_rule"]) if "replication_rule" in st else "")
            + (paragraph("Within a seed, consistency and accuracy under shift also get a "
                         "percentile bootstrap interval over test images (report.json: "
                         "bootstrap_ci95_per_seed).") if "bootstrap" in st else "")
            + table(["split", "used for"], rows))


def _results(result: dict) -> str:
    from .seed_report import shift_rows, structure_rows

    return table(*structure_rows(result["models"])) + table(*shift_rows(result["models"])) \
        + paragraph(
        "Conn./unit: inputs a first-layer output unit depends on, counted as the nonzero "
        "entries of d(unit)/d(input) from a backward pass (mean over sampled units in the "
        "centre of the map), with the fraction of all inputs. RF: receptive field of the last "
        "feature map (analytic). k px: test accuracy for inputs shifted k pixels (mean of the "
        "4 directions, zero fill). Consist.: Zhang's consistency. P(top1 chg), MAC: Azulay & "
        "Weiss for a 1-pixel shift. Equiv. err: first-layer equivariance error (mean).")


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
    notes = [f"{r['label']}: {r['equivariance']['note']}" for r in result["models"].values()
             if r["equivariance"]["error"] is None]
    return (img(figs["shift_accuracy"], "accuracy against shift, 95% bands")
            + "".join(paragraph(n) for n in notes))


def _overfitting(result: dict, figs: dict) -> str:
    from .aggregate import pm
    from .seed_report import size_rows

    rows = [[r["label"], pm(r["metrics"]["train_accuracy"]), pm(r["metrics"]["test_accuracy"]),
             pm(r["metrics"]["gap"]), pm(r["metrics"]["train_seconds"], 1) + " s"]
            for r in result["models"].values()]
    body = table(["model", "train", "test", "gap (points)", "training time"], rows)
    body += img(figs["learning_curves"], "learning curves of the first seed")
    sizes = size_rows(result["models"])
    if sizes and "sample_efficiency" in figs:
        body += table(*sizes)
        body += paragraph(f"Subsets of the training data are stratified; each run gets "
                          f"{result['settings']['size_steps']}; the largest size is the full "
                          f"run.")
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
    "1-px shift on 64 test inputs, over the interior of the map. Each seed reseeds the "
    "initialisation, the shuffling, the validation split and the random shifts; the test "
    "set is the same for every seed. Verdicts compare two models by their per-seed "
    "difference (see Statistics).")


PAPER_MAPS_NOTE = ("Filters: the logistic regression's weights (one per input position, on the "
                   "regular sequences) and the CNN's first Conv1d kernels. Feature maps: the "
                   "CNN's first-layer output (before the ReLU) for the first test sequence.")


def compare_sections(result: dict, figs: dict) -> list:
    return [("Settings", _settings(result)),
            ("Statistics and data splits", _statistics(result)),
            ("Verdicts", verdict_list(result["verdicts"])),
            ("Results", _results(result)),
            ("Parameter sharing", _sharing(result, figs)),
            ("Sparsity of connections", _sparsity(result)),
            ("Translation invariance", _invariance(result, figs)),
            ("Overfitting and sample efficiency", _overfitting(result, figs)),
            ("Filters and feature maps", _maps(figs, MAPS_NOTE)),
            ("Method", paragraph(METHOD))]


def paper_sections(result: dict, figs: dict) -> list:
    from .aggregate import pm
    from .seed_report import paper_rows

    mrows = [[k, r["variant"], f"{r['params']:,}", pm(r["metrics"]["train_accuracy"]),
              pm(r["metrics"]["test_accuracy"]), pm(r["metrics"]["train_seconds"], 1) + " s"]
             for k, r in result["runs"].items()]
    return [("Settings", _settings(result)),
            ("Statistics and data splits", _statistics(result)),
            ("Verdicts", verdict_list(result["verdicts"])),
            ("MNIST-1D replication",
             table(*paper_rows(result))
             + img(figs["paper"], "ours against the paper")
             + table(["model", "sequences", "params", "train", "test", "training time"], mrows)
             + paragraph(result["notes"])),
            ("Learning curves", img(figs["learning_curves"], "learning curves, first seed")),
            ("Filters and feature maps", _maps(figs, PAPER_MAPS_NOTE)),
            ("Method", paragraph(result["method"]))]
