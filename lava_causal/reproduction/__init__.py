"""Reproductions of the paper's Figs. 2-6 and a quantization study.

Each module ``figN`` has ``run(out, quick=False, seed=0, progress=True) -> dict``: it
writes its figures (PNG) and ``<name>.json`` (the numbers, with how they were made) to
``out`` and returns the numbers. ``examples/figN_*.py`` and ``lava-causal reproduce``
call them. :data:`EXPERIMENTS` maps names to modules.
"""
from importlib import import_module

EXPERIMENTS = {
    "fig2": "fig2_tasks",
    "fig3": "fig3_regularization",
    "fig4": "fig4_variability",
    "fig5": "fig5_noise",
    "fig6": "fig6_signal_tracking",
    "quantization": "quantization_study",
}
"""Experiment name -> module in this package."""


def run(name: str, out, quick: bool = False, seed: int = 0, progress: bool = True) -> dict:
    """Run one experiment by name (see :data:`EXPERIMENTS`)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {sorted(EXPERIMENTS)} or 'all', got {name!r}")
    module = import_module(f"{__name__}.{EXPERIMENTS[name]}")
    return module.run(out, quick=quick, seed=seed, progress=progress)
