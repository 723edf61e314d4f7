"""The multi-seed report: terminal tables (mean [95% CI] over seeds), figures with error bars
and bands, report.json and report.html (see the README for report.json's layout)."""

from __future__ import annotations

from pathlib import Path

from . import report
from .aggregate import pm
from .models import build_image_model, build_sequence_model


def structure_rows(models: dict) -> tuple[list, list]:
    head = ["Model", "Params", "Mult-adds", "Conn./unit", "RF", "Train", "Test", "Gap (pts)"]
    rows = []
    for r in models.values():
        m, c = r["metrics"], r["connections"]
        rows.append([r["label"], f"{r['params']:,}", f"{r['mult_adds']:,}",
                     f"{c['mean']:.0f} ({report.pct(c['fraction'])})",
                     report.rf_text(r["receptive_field"]), pm(m["train_accuracy"]),
                     pm(m["test_accuracy"]), pm(m["gap"])])
    return head, rows


def shift_rows(models: dict) -> tuple[list, list]:
    ks = sorted(next(iter(models.values()))["metrics"]["shift_accuracy"], key=int)
    head = ["Model", *[f"{k} px" for k in ks], "Consist.", "P(chg 1px)", "MAC", "Equiv. err"]
    rows = []
    for r in models.values():
        m = r["metrics"]
        eq = m.get("equivariance_error")
        rows.append([r["label"], *[pm(m["shift_accuracy"][k]) for k in ks],
                     pm(m["consistency"]), pm(m["p_top1_change"]), pm(m["mac"], 1, 3),
                     "n/a" if eq is None else f"{eq['mean']:.1e}"])
    return head, rows


def size_rows(models: dict) -> tuple[list, list] | None:
    curves = {k: r["metrics"].get("sample_efficiency") for k, r in models.items()}
    if not all(curves.values()):
        return None
    sizes = sorted(next(iter(curves.values())), key=int)
    return (["Model", *[f"{n} images" for n in sizes]],
            [[models[k]["label"], *[pm(c[n]) for n in sizes]] for k, c in curves.items()])


def paper_rows(result: dict) -> tuple[list, list]:
    head = ["model", "paper", "convolve: mean [95% CI]", "diff (pts)", "status", "params"]
    rows = [[r["claim"], f"{100 * r['paper']:.0f}", pm(r["ours"]),
             f"{100 * (r['ours']['mean'] - r['paper']):+.1f}", f"{r['status']}: {r['how']}",
             f"{result['runs'][r['claim']]['params']:,}"] for r in result["replication"]]
    return head, rows


def print_summary(result: dict) -> None:
    name, n = result["data"]["name"], len(result["seeds"])
    tag = f"mean [95% CI] over {n} seed(s), percent"
    if result["kind"] == "paper":
        report.print_table(f"MNIST-1D against Greydanus (2020), {tag}", *paper_rows(result))
    else:
        models = result["models"]
        report.print_table(f"{name}: size, connectivity, accuracy ({tag})",
                           *structure_rows(models))
        report.print_table(f"{name}: test accuracy under shift, consistency ({tag})",
                           *shift_rows(models))
        sizes = size_rows(models)
        if sizes:
            report.print_table(f"{name}: test accuracy by training-set size ({tag})", *sizes)
    for v in result["verdicts"]:
        print(v["text"])
    print(result["statistics"]["rule"])


def _rebuild(result: dict, weights: dict, split) -> dict:
    """The first seed's trained models, rebuilt from their state dicts (for the figures)."""
    classes, models = result["data"]["num_classes"], {}
    for key, state in weights.items():
        if result["kind"] == "paper":
            name = {"logistic": "logistic", "mlp": "mlp1d", "cnn": "cnn1d"}.get(key)
            if name is None:
                continue
            m = build_sequence_model(name, tuple(split.x_train.shape[1:]), classes)
        else:
            m = build_image_model(key, tuple(result["data"]["sample_shape"]), classes)
        m.load_state_dict(state)
        models[key] = m
    return models


def _figures(result: dict, trained: dict, split) -> dict:
    from . import plots

    hist = result["per_seed"][0]["histories"]
    figs = {"learning_curves": plots.learning_curves(hist)}
    if result["kind"] == "paper":
        seq = {k: m for k, m in trained.items() if k in ("logistic", "cnn")}
        figs.update(paper=plots.paper_bars(result["ours"], result["paper"]),
                    filters=plots.filters(seq),
                    feature_maps=plots.feature_maps({"cnn": trained["cnn"]}, split.x_test[0]))
        return figs
    models = result["models"]
    figs.update(shift_accuracy=plots.shift_accuracy(models),
                parameter_growth=plots.parameter_growth(result["parameter_growth"]),
                filters=plots.filters(trained),
                feature_maps=plots.feature_maps(trained, split.x_test[0]))
    if size_rows(models):
        figs["sample_efficiency"] = plots.size_accuracy(models)
    return figs


def write(result: dict, first_trial: dict, split, out: Path) -> dict:
    """report.json, report.html and figures/*.png under ``out``; returns their paths."""
    from .html_sections import compare_sections, paper_sections

    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    figs = _figures(result, _rebuild(result, first_trial["weights"], split), split)
    for name, png in figs.items():
        report.atomic_write(out / "figures" / f"{name}.png", png)
    files = {"json": str(out / "report.json"), "html": str(out / "report.html"),
             "figures": sorted(str(out / "figures" / f"{n}.png") for n in figs)}
    result["figures"] = sorted(figs)
    report.write_json(result, out / "report.json")
    if result["kind"] == "paper":
        title, sections = "MNIST-1D replication", paper_sections(result, figs)
    else:
        title, sections = result["data"]["name"], compare_sections(result, figs)
    report.write_html(f"convolve compare: {title}", sections, out / "report.html")
    return files
