"""The command line's plain-text reports, made from results documents and rows.

Summary, inference latency, repeats, fairness, the --matrix table, two runs side by side, the
saved runs (--list-runs) and the scenarios (--list). Pure functions that return text; the
engines return documents and rows, never text. No Textual. Values that come from files and sit
in a column are kept on one line here (`_cell`); every line printed is made printable by
tui.terminal.say.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engines.efficiency import flops_rate_text
from engines.registry import engine_label
from engines.results.diff import RunComparison
from engines.results.inference import inference_rows
from engines.results.store import RunInfo
from engines.results.verdicts import EARLY_STEPS
from scenarios import Scenario, ScenarioError

from .safe_text import printable

# Rows of the fairness table the summary prints (the export and the app show every row).
FAIRNESS_TABLE_KEYS = ("version", "device", "dtype", "threads", "mode", "tf32", "onednn", "xla",
                       "batch_size", "replicas", "replica_threads", "dist_backend",
                       "dist_strategy", "collective")


def _label(name: str) -> str:
    return engine_label(name)


def _duration(x: Any, unit: str = "ms") -> str:
    """'1.27 ms' below a second, '2.01 s' above (unit 's': always seconds); '-' if unknown."""
    if not isinstance(x, (int, float)):
        return "-"
    return f"{x * 1e3:.3g} ms" if unit == "ms" and x < 1 else f"{x:.2f} s"


def _ms(x: float | None) -> str:
    """Always in milliseconds (latencies of a batch, whatever their size)."""
    return "-" if x is None else f"{x * 1e3:.3g} ms"


def _cell(value: Any) -> str:
    """A value from a file as one printable line (a newline in a name must not forge a row)."""
    return printable(value, newlines=False)


def _columns(rows: Sequence[Sequence[str]], rule: bool = False) -> list[str]:
    """Rows left-aligned in columns two spaces apart; `rule`: dashes under the header."""
    rows = [[_cell(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    if rule:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


# -- one run -----------------------------------------------------------------------------------

def summary_table(doc: dict[str, Any]) -> str:
    """Per-engine figures (with the last held-out accuracy where the run evaluated), errors,
    parity, speed-up and the settings line."""
    evaluated = any("evaluations" in e for e in doc["engines"].values())
    rows = [("engine", "status", "steps", "median", "IQR", "samples/s", "first step", "import",
             "final loss", "spread", "achieved (share of peak)",
             *(("held-out acc",) if evaluated else ()))]
    for name, e in doc["engines"].items():
        s = e["summary"]
        rows.append((
            _label(name), e["status"], str(s["steps_done"]),
            _duration(s["median_step_s"]), _duration(s["iqr_step_s"]),
            f"{s['samples_per_s']:.0f}" if s["samples_per_s"] else "-",
            _duration(e["phases_s"].get("first_step")),
            _duration(e["phases_s"].get("import"), "s"),
            f"{s['final_loss']:.5g}" if s["final_loss"] is not None else "-",
            _spread_cell(s), _efficiency_cell(e.get("efficiency") or {}),
            *((_held_out_cell(e.get("evaluations") or []),) if evaluated else ()),
        ))
    lines = _columns(rows, rule=True)
    for name, e in doc["engines"].items():
        if e["error"]:
            lines.append(f"{_label(name)} {e['status']}: {e['error']}")
    lines += efficiency_lines(doc)
    comp = doc.get("comparison", {})
    par = comp.get("parity")
    if par and par["steps_compared"]:
        lines.append(_parity_line(par))
    held = comp.get("evaluation_parity")
    if held and held.get("evaluations_compared"):
        lines.append(_evaluation_line(held))
    sp = comp.get("speedup")
    if sp:
        lines += speedup_lines(sp, par)
    st = doc["settings"]
    contended = " (contended)" if st["schedule"] == "parallel" else ""
    lines.append(f"settings: task {st['task']}, mode {st['mode']}, schedule {st['schedule']}"
                 f"{contended}, device {st['device']}, precision {st.get('precision', 'fp32')}, "
                 f"{st['threads']} thread(s) each, batch {st['batch_size']}, {st['isolation']}")
    return "\n".join(lines)


def _sci(x: float | None) -> str:
    return "n/a (non-finite)" if x is None else f"{x:.2e}"


def _efficiency_cell(eff: dict[str, Any]) -> str:
    """'54.2 GFLOP/s (92 %)': achieved FLOP/s and its share of the measured peak."""
    rate = flops_rate_text(eff.get("achieved_flops"))
    share = eff.get("share_of_peak")
    return rate + (f" ({share:.0%})".replace("%", " %") if isinstance(share, float) else "")


def efficiency_lines(doc: dict[str, Any]) -> list[str]:
    """What the share of peak refers to, and the energy per sample (or why there is none)."""
    peaks, energy = [], {}
    for name, e in doc["engines"].items():
        eff = e.get("efficiency") or {}
        if eff.get("peak_flops"):
            text = f"{_label(name)} {flops_rate_text(eff['peak_flops'])}, {eff['peak_source']}"
        else:
            text = f"{_label(name)} {eff.get('peak_source', 'n/a')}"
        if eff.get("datasheet_peak_flops"):
            text += (f"; {eff['datasheet_model']} datasheet "
                     f"{flops_rate_text(eff['datasheet_peak_flops'])}")
            if isinstance(eff.get("share_of_datasheet_peak"), float):
                text += f", achieved {eff['share_of_datasheet_peak']:.0%} of it"
        peaks.append(text)
        en = e.get("energy") or {}
        if en.get("per_sample_j") is not None:
            energy[name] = (f"{en['per_sample_j'] * 1e3:.3g} mJ/sample, "
                            f"{en['per_step_j']:.3g} J/step, {en['avg_power_w']:.0f} W average "
                            f"({en.get('source')}: {en.get('scope')})")
        else:
            energy[name] = f"n/a ({en.get('reason') or 'not measured'})"
    if not peaks:
        return []
    if len(energy) > 1 and len(set(energy.values())) == 1 and \
            next(iter(energy.values())).startswith("n/a"):
        energy_text = next(iter(energy.values()))  # the same reason for every engine
    else:
        energy_text = "; ".join(f"{_label(n)} {t}" for n, t in energy.items())
    return ["share of peak: of the measured matmul peak: " + "; ".join(peaks),
            "energy: " + energy_text]


def _held_out_cell(evaluations: list[dict[str, Any]]) -> str:
    """The last evaluation's accuracy and the step it followed, e.g. '96.4% @300'."""
    if not evaluations:
        return "-"
    last = evaluations[-1]
    acc = last.get("accuracy")
    figure = f"{acc:.1%}" if isinstance(acc, (int, float)) else "-"
    return f"{figure} @{last.get('step', '?')}"


def _evaluation_line(held: dict[str, Any]) -> str:
    """The held-out evaluations of both engines compared, by the same rule as the losses."""
    verdict = {True: "OK", False: "MISMATCH", None: "n/a"}[held.get("within_tolerance")]
    acc = held.get("max_abs_accuracy_diff")
    acc_text = f"; accuracies differ by at most {acc:.2%}" if acc is not None else ""
    if held.get("method") == "statistical":
        return (f"held-out (statistical, dropout): {verdict}: {held['evaluations_compared']} "
                f"evaluations, losses within {_sci(held.get('max_rel_loss_diff'))} of the first "
                f"(band {held['tolerance']:.0e}){acc_text}")
    return (f"held-out: {verdict}: {held['evaluations_compared']} evaluations agree to "
            f"{_sci(held.get('max_rel_loss_diff'))} relative (tolerance "
            f"{held.get('early_tolerance', held['tolerance']):.0e} to step {EARLY_STEPS}, "
            f"{held['tolerance']:.0e} after){acc_text}")


def _parity_line(par: dict[str, Any]) -> str:
    sci = _sci
    if par.get("method") == "statistical":
        verdict = "IN BAND" if par["within_tolerance"] else "OUT OF BAND"
        return (f"parity: STATISTICAL (not exact), {verdict}: dropout masks differ between the "
                f"frameworks; moving medians over {par.get('window', '?')} steps differ by at "
                f"most {sci(par.get('max_rel_loss_diff'))} of the starting loss (band "
                f"{par['tolerance']:.0e}) over {par['steps_compared']} steps")
    verdict = "OK" if par["within_tolerance"] else "MISMATCH"
    precision = par.get("precision", "fp32")
    line = (f"parity: {verdict}: first {par.get('early_steps', 0)} steps agree to "
            f"{sci(par.get('early_max_rel_loss_diff'))} relative "
            f"({precision} tolerance {par.get('early_tolerance', par['tolerance']):.0e})")
    if par["steps_compared"] > par.get("early_steps", 0):
        line += (f"; all {par['steps_compared']} steps to {sci(par['max_rel_loss_diff'])} "
                 f"(drift tolerance {par['tolerance']:.0e})")
    return line


def speedup_lines(sp: dict[str, Any], par: dict[str, Any] | None = None) -> list[str]:
    """The verdict: who is faster, by how much, how it was measured; "(in doubt)" when the
    verdict has a reason to doubt it (the reasons are warnings in the fairness report)."""
    lo, hi = sp["ci95"]
    if sp.get("paired"):
        how = (f"{sp['pairs']} turn pairs, +-{sp['half_width']:.1%}"
               if sp.get("half_width") is not None else f"{sp['pairs']} turn pairs")
    else:
        how = "unpaired"
    doubted = bool(sp.get("doubts")) or bool(par and par.get("within_tolerance") is False)
    lines = [f"speed-up: {_label(sp['faster'])} is {sp['ratio']:.2f}x faster per step "
             f"(95% CI {lo:.2f}-{hi:.2f}; {how}){' (in doubt)' if doubted else ''}"]
    until = sp.get("until_confident")
    if until:
        if until.get("confident_after_s") is not None:
            lines.append(f"verdict confident (+-{until['pct']:g} %) after "
                         f"{until['confident_after_s']:.1f} s of measuring, "
                         f"{until['pairs']} turn pairs")
        else:
            lines.append(f"verdict NOT confident within +-{until['pct']:g} % after all "
                         f"{until['max_steps']} steps")
    return lines


def _spread_cell(s: dict[str, Any]) -> str:
    """IQR/median of the steady steps, e.g. '4%': information about the engine's step times
    (whether the verdict is in doubt is the speed-up's own business)."""
    rel = s.get("iqr_over_median")
    med = s.get("median_step_s")
    if rel is None and med:
        rel = (s.get("iqr_step_s") or 0.0) / med
    return f"{rel:.0%}" if isinstance(rel, (int, float)) else "-"


def inference_table(doc: dict[str, Any]) -> str:
    """The latency table (p50/p90/p99 per batch size) and output parity of an infer run."""
    inf = doc.get("inference") or {}
    rows = [("batch", "engine", "p50", "p90", "p99", "samples/s", "")]
    for r in inference_rows(doc):
        rows.append((str(r.batch_size), _label(r.engine), _ms(r.p50_s), _ms(r.p90_s),
                     _ms(r.p99_s), f"{r.samples_per_s:.0f}" if r.samples_per_s else "-",
                     "unstable" if r.unstable else ""))
    lines = _columns(rows, rule=True)
    for key, sp in (inf.get("speedup") or {}).items():
        if sp:
            lo, hi = sp["ci95"]
            lines.append(f"batch {key}: {_label(sp['faster'])} is "
                         f"{sp['ratio']:.2f}x faster per batch (95% CI {lo:.2f}-{hi:.2f})"
                         f"{' [unstable]' if sp['unstable'] else ''}")
    for key, p in (inf.get("output_parity") or {}).items():
        if p:
            if p.get("max_abs_diff") is None:
                why = p.get("error", "non-finite outputs")
                lines.append(f"output parity, batch {key}: MISMATCH ({why})")
            else:
                lines.append(f"output parity, batch {key}: "
                             f"{'OK' if p['within_tolerance'] else 'MISMATCH'}, max |logits "
                             f"difference| {p['max_abs_diff']:.2e} on batch {p['batch_index']} "
                             f"(relative {p['max_rel_diff']:.1e}, tolerance {p['tolerance']:.0e})")
    return "\n".join(lines)


def repeat_table(doc: dict[str, Any]) -> str:
    """Per-repeat medians, the ratio of each repeat, and their spread."""
    rep = doc.get("repeats") or {}
    names = list(doc.get("engines") or {})
    sp = (doc.get("comparison") or {}).get("speedup")
    head = ["repeat", "first", *(f"{_label(n)} median" for n in names)]
    if sp:
        head.append(f"{_label(sp['slower'])}/{_label(sp['faster'])}")
    rows = [tuple(head)]
    for r in rep.get("runs", []):
        first = (r.get("order") or ["?"])[0]
        cells = [str(r["repeat"] + 1), _label(first)]
        cells += [_duration(r["median_step_s"].get(n)) for n in names]
        if sp:
            cells.append(f"{r['ratio']:.3f}" if r.get("ratio") else "-")
        rows.append(tuple(cells))
    lines = _columns(rows, rule=True)
    for n, spread in (rep.get("median_spread") or {}).items():
        if spread.get("median"):
            lines.append(f"{_label(n)}: per-repeat medians "
                         f"{_duration(spread['min'])}..{_duration(spread['max'])} "
                         f"(spread {spread['rel_range']:.1%} of the median)")
    rs = rep.get("ratio_spread") or {}
    if rs.get("median"):
        lines.append(f"ratio across repeats: {rs['min']:.3f}..{rs['max']:.3f} "
                     f"(spread {rs['rel_range']:.1%})")
    return "\n".join(lines)


def fairness_text(doc: dict[str, Any]) -> str:
    """What each engine ran with (flagged '!' where the sides differ in something that changes
    speed), then the warnings. The full report, with the measures taken, is in the export."""
    fair = doc.get("fairness") or {}
    names = fair.get("engines") or []
    lines = []
    rows = [("", *(_label(n) for n in names))]
    for r in fair.get("rows", []):
        if r["key"] in FAIRNESS_TABLE_KEYS:
            flag = "! " if r["differs"] and r["affects_speed"] else "  "
            rows.append((flag + r["label"], *(r["values"].get(n, "?") for n in names)))
    if len(rows) > 1 and names:
        lines += _columns(rows)
    for w in fair.get("warnings", []):
        lines.append(f"{'WARNING' if w['level'] == 'warning' else 'note'}: {w['text']}")
    return "\n".join(lines)


# -- --matrix ----------------------------------------------------------------------------------

def _matrix_parity(row: dict[str, Any]) -> str:
    ok = row["parity_ok"]
    if ok is None:
        return "-"
    if row.get("parity_method") == "statistical":
        return "in band" if ok else "OUT OF BAND"
    return "ok" if ok else "MISMATCH"


def matrix_table(rows: list[dict[str, Any]]) -> str:
    """The --matrix rows (engines.results.matrix.matrix_rows) as a table, with its legend."""
    table = [("task", "engine", "mode", "median step", "IQR", "first step", "vs eager",
              "pays off after", "parity")]
    for r in rows:
        if r["mode"] == "eager":
            pays = "(baseline)"
        elif r["breakeven_steps"] is None:
            pays = "never" if r["median_step_s"] else "-"
        else:
            n = r["breakeven_steps"]
            pays = f"{n} step{'s' if n != 1 else ''}"
        vs = f"{r['speedup_vs_eager']:.2f}x" if r["speedup_vs_eager"] else "-"
        med = _duration(r["median_step_s"]) + (" ~" if r["unstable"] else "")
        status = "" if r["status"] == "done" else f" [{r['status']}]"
        table.append((r["task"], _label(r["engine"]), str(r["mode_label"]) + status, med,
                      _duration(r["iqr_step_s"]), _duration(r["first_step_s"]), vs, pays,
                      _matrix_parity(r)))
    lines = _columns(table, rule=True)
    lines.append("~ unstable (IQR/median > 10 %). vs eager: eager median / this median (same "
                 "engine, same task). pays off after: steps until the first-step (compile) cost "
                 "is recovered; never = not faster per step.")
    if any(r.get("parity_method") == "statistical" for r in rows):
        lines.append("parity in band / OUT OF BAND: statistical (dropout: the frameworks' masks "
                     "differ), moving medians of the losses compared within a band.")
    for r in rows:
        if r["error"]:
            lines.append(f"{r['task']}/{r['mode']} {_label(r['engine'])}: {r['error']}")
    return "\n".join(lines)


# -- saved runs, two runs side by side, the scenarios ------------------------------------------

def runs_table(runs: list[RunInfo]) -> list[str]:
    """--list-runs: one line per saved run, under a header."""
    rows = [("started", "scenario", "task/mode", "device", "verdict", "file")]
    for r in runs:
        rows.append((r.started_text, r.scenario,
                     "matrix" if r.kind == "matrix" else f"{r.task}/{r.mode}"
                     + (f" x{r.repeats}" if r.repeats else ""),
                     r.device, r.verdict, r.path.name))
    return _columns(rows)


def compare_text(cmp: RunComparison, name_a: str, name_b: str) -> str:
    """--compare: two results documents side by side (engines.results.store.compare_runs)."""
    lines = [f"A: {name_a}  ({cmp.title_a})", f"B: {name_b}  ({cmp.title_b})", ""]
    rows = [("", "A", "B", "")]
    section = None
    for r in cmp.rows:
        if r.section != section:
            rows.append((f"[{r.section}]", "", "", ""))
            section = r.section
        rows.append(("  " + r.label, r.a, r.b, ("* " if r.differs else "") + r.note))
    lines += _columns(rows)
    for w in cmp.warnings:
        lines.append(f"warning: {w}")
    return "\n".join(lines)


def scenario_lines(scenarios: Sequence[Scenario]) -> list[str]:
    """--list: name, description and where each scenario comes from."""
    names = [_cell(s.name) for s in scenarios]
    width = max(len(n) for n in names)
    return [f"{n.ljust(width)}  {_cell(s.description)}  "
            f"[{'built-in' if s.builtin else _cell(s.source)}]" for n, s in zip(names, scenarios)]


def skipped_lines(problems: Sequence[ScenarioError]) -> list[str]:
    """Warnings for scenario files that were skipped."""
    return [f"warning: skipped {p}" for p in problems]
