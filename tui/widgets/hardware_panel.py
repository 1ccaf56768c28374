"""HardwarePanel: CPU and memory of each engine process (psutil) and every GPU (NVML)."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from engines.run.telemetry import NOTE_ZERO, replica_key

from ..formatting import DASH, fmt_bytes
from ..live_model import HardwareView
from ..palette import engine_color
from ..safe_text import printable


def _pct(x) -> str:
    return DASH if x is None else f"{x:.0f}%"


def cpu_line(view: HardwareView) -> Text:
    """System CPU% and memory used, then CPU% and resident memory of each engine process."""
    s = view.sample or {}
    out = Text.assemble(("CPU ", "dim"), _pct(s.get("cpu_pct")), ("  RAM ", "dim"),
                        fmt_bytes(s.get("mem_used")))
    engines = s.get("engines") or {}
    for i, (name, label) in enumerate(view.labels.items()):
        e = engines.get(name)
        out.append("  │  ", "dim")
        out.append(label, engine_color(name, i))
        if e is None:
            out.append(" ended" if s else f" {DASH}", "dim")
            continue
        out.append(f" {_pct(e.get('cpu_pct'))} {fmt_bytes(e.get('rss'))}")
        if e.get("replicas"):
            out.append(f" ({len(e['replicas'])} replicas)", "dim")
        if e.get("workers"):  # DataLoader worker processes of this engine
            out.append(f" + {e['workers']} loader worker{'s' if e['workers'] > 1 else ''} "
                       f"{_pct(e.get('workers_cpu_pct'))} {fmt_bytes(e.get('workers_rss'))}",
                       "dim")
    return out


def replica_lines(view: HardwareView) -> list[Text]:
    """One line per engine that runs as replicas: each replica process's CPU% and RSS (and
    its GPU memory, where NVML lists it)."""
    engines = (view.sample or {}).get("engines") or {}
    gpus = (view.sample or {}).get("gpus") or []
    out = []
    for i, (name, label) in enumerate(view.labels.items()):
        replicas = (engines.get(name) or {}).get("replicas")
        if not replicas:
            continue
        line = Text.assemble(("  ", ""), (label, engine_color(name, i)))
        for r in replicas:
            line.append(f"  r{r.get('rank')} ", "dim")
            line.append(f"{_pct(r.get('cpu_pct'))} {fmt_bytes(r.get('rss'))}")
            for g in gpus:  # where this replica holds GPU memory (one GPU each)
                mem = (g.get("engine_mem") or {}).get(replica_key(name, r.get("rank") or 0))
                if mem:
                    line.append(f" GPU{g.get('index', '?')} {fmt_bytes(mem)}")
            line.append(f" pid {r.get('pid')}", "dim")
        out.append(line)
    return out


def gpu_lines(view: HardwareView) -> list[Text]:
    """One line per GPU (utilisation, memory, power, temperature, each engine's memory), or
    one line saying why there is none."""
    sample = view.sample or {}
    gpus = sample.get("gpus") or []
    if view.gpu_status and view.gpu_status != "ok":
        return [Text.assemble(("GPU ", "dim"), (printable(view.gpu_status), "yellow"),
                              (" · CPU telemetry only", "dim"))]
    if not gpus:
        return [Text("GPU  no sample yet", style="dim")] if view.gpu_status == "ok" else []
    notes = sample.get("gpu_engine_notes") or {}
    out = []
    for g in gpus:
        line = Text.assemble((f"GPU{g.get('index', '?')} ", "dim"), _pct(g.get("util_pct")),
                             ("  mem ", "dim"),
                             f"{fmt_bytes(g.get('mem_used'))}/{fmt_bytes(g.get('mem_total'))}")
        power, temp = g.get("power_w"), g.get("temp_c")
        line.append("  ")
        line.append(DASH if power is None else f"{power:.0f} W")
        line.append("  ")
        line.append(DASH if temp is None else f"{temp:.0f}°C")
        for i, (name, label) in enumerate(view.labels.items()):
            mem = (g.get("engine_mem") or {}).get(name)
            if mem == 0:  # what some drivers say when they cannot tell: unknown, not "0 B"
                mem, notes = None, {**notes, name: NOTE_ZERO}
            if mem is not None:
                line.append("  │  ", "dim")
                line.append(label, engine_color(name, i))
                line.append(f" {fmt_bytes(mem)}")
            elif _unknown_here(view, name, g, gpus, notes):
                line.append("  │  ", "dim")
                line.append(label, engine_color(name, i))
                line.append(f" per-process n/a ({printable(notes[name])})", "dim")
                own = view.framework_mem.get(name)
                if own:
                    line.append(f" · own count {fmt_bytes(own)}")
        out.append(line)
    return out


def _unknown_here(view: HardwareView, name: str, gpu: dict, gpus: list[dict],
                  notes: dict[str, str]) -> bool:
    """Say on this GPU's line that NVML has no figure for `name`: in a CUDA run, on the line
    of the engine's own GPU (the first line when it is not known), when NVML found it nowhere
    or found it here without a figure."""
    if view.device != "cuda" or name not in notes:
        return False
    index = view.engine_gpu.get(name)
    if index is None or not any(g.get("index") == index for g in gpus):
        return gpu is gpus[0]
    return gpu.get("index") == index


def _energy_text(e: dict) -> tuple[str, str | None]:
    """(text, why there is no figure): ('212 W · 1.21 mJ/sample', None), ('measuring (…)',
    None) or ('n/a (why)', why)."""
    watts, per_sample = e.get("avg_power_w"), e.get("per_sample_j")
    if watts is not None and per_sample is not None:
        per = f"{per_sample * 1e3:.3g} mJ" if per_sample < 1 else f"{per_sample:.3g} J"
        return f"{watts:.0f} W · {per}/sample", None
    if e.get("source") is not None and e.get("reason") == "no steady steps measured yet":
        return "measuring (figures at the end of the run)", None
    why = str(e.get("reason") or "not measured")
    return f"n/a ({why})", why


def energy_line(view: HardwareView) -> Text | None:
    """Average power and energy per sample of each engine over its steady steps, or "n/a"
    and why (said once when it is the same for every engine); None without real engines."""
    if not view.energy:
        return None
    texts = {n: _energy_text(e) for n, e in view.energy.items()}
    out = Text("energy ", "dim")
    reasons = {why for _, why in texts.values()}
    if len(texts) > 1 and len(reasons) == 1 and None not in reasons:
        out.append(f"n/a: {reasons.pop()}", "dim")
        return out
    for i, (name, label) in enumerate(view.labels.items()):
        if name not in texts:
            continue
        text, why = texts[name]
        if len(out) > len("energy "):
            out.append("  │  ", "dim")
        out.append(label, engine_color(name, i))
        out.append(f" {text}", "dim" if why else "")
    return out


def render_hardware(view: HardwareView) -> Text:
    """The panel's text: a CPU line, the GPU lines and the energy line."""
    if not view.enabled:
        return Text("telemetry off (--no-telemetry): no CPU/GPU samples", style="dim")
    if view.sample is None:
        lines = [Text("waiting for the first sample…", style="dim")]
        if view.gpu_status and view.gpu_status != "ok":
            lines += gpu_lines(view)
    else:
        lines = [cpu_line(view)] + replica_lines(view) + gpu_lines(view)
    energy = energy_line(view)
    if energy is not None:
        lines.append(energy)
    return Text("\n").join(lines)


class HardwarePanel(Widget):
    """Latest telemetry; one line for CPUs and one per GPU (or why there is no GPU)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.view: HardwareView | None = None
        self.border_title = "Hardware"

    def show(self, view: HardwareView) -> None:
        """Take a new view; refresh when it changed (height follows the GPU count)."""
        if view != self.view:
            lines_before = self._line_count()
            self.view = view
            self.refresh(layout=self._line_count() != lines_before)

    def _line_count(self) -> int:
        return 0 if self.view is None else len(render_hardware(self.view).split())

    def render(self) -> Text:
        if self.view is None:
            return Text("—", style="dim")
        text = render_hardware(self.view)
        text.no_wrap = True
        text.overflow = "ellipsis"
        return text
