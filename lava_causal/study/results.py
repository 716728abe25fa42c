r"""A study's results: the table, the effects, the pictures.

**Table**: one row per cell x metric: the factor levels, the metric, its mean over
trials with a 95 % BCa interval, the standard deviation, the number of trials, the
cell's key, settings (JSON) and provenance (backend, hardware, step, seed, versions);
written as ``results.parquet`` (pyarrow) and ``results.csv``, with ``summary.json``.

**Effects** (:meth:`StudyResult.effects`): a factorial analysis of variance of the
per-trial values, with the trials of a cell as replicates. For factors
:math:`A, B, \dots` with cell means :math:`\bar y_{ab\dots}` on a full grid of
:math:`n` trials per cell, the sum of squares of a main effect is
:math:`SS_A = n \prod_{F \ne A} L_F \sum_a (\bar y_a - \bar y)^2` (the marginal means
:math:`\bar y_a`), of a two-factor interaction
:math:`SS_{AB} = n \prod_{F \ne A,B} L_F \sum_{ab} (\bar y_{ab} - \bar y_a - \bar y_b + \bar y)^2`,
and the error :math:`SS_E = \sum (y - \bar y_{cell})^2` has :math:`C(n - 1)` degrees
of freedom (C cells); interactions of three or more factors are pooled in one row; :math:`F = (SS/df)/(SS_E/df_E)` with its p-value
(:func:`scipy.stats.f`). Sources are ranked by their share of the total sum of
squares. With unequal trials per cell (``ci_width``) the cell means are weighted as if
every cell had the smallest count (an approximation, said in the table).
"""
from __future__ import annotations

import csv
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np
import scipy.stats

from compiler.system.files import atomic_output, write_json

from ..provenance import versions


@dataclass
class StudyResult:
    """What :func:`lava_causal.study.engine.run` returns (module docstring)."""

    spec: object
    cells: list
    keys: list
    results: dict
    summary: dict = field(default_factory=dict)

    @property
    def factors(self) -> List[str]:
        return list(self.spec.factors)

    @property
    def metrics(self) -> List[str]:
        return list(self.spec.run["metrics"])

    def rows(self) -> List[dict]:
        """The table (module docstring), one dict per cell x metric."""
        out = []
        for cell, key in zip(self.cells, self.keys):
            result = self.results[key]
            for metric in self.metrics:
                s = result["summary"][metric]
                prov = result["provenance"]
                out.append({**{f: _scalar(cell["levels"][f]) for f in self.factors},
                            "family": cell["family"], "metric": metric, "mean": s["mean"],
                            "ci_low": s["ci95"][0], "ci_high": s["ci95"][1], "std": s["std"],
                            "trials": int(result["trials"]), "backend": prov["backend"], "hw": prov["hw"],
                            "dt": prov["dt"], "seed": prov["seed"], "key": key,
                            "settings": json.dumps({k: cell[k] for k in ("problem", "compile", "run")},
                                                   sort_keys=True, default=repr),
                            "versions": json.dumps(prov["versions"], sort_keys=True)})
        return out

    def write(self, out) -> None:
        """``results.parquet`` (when pyarrow is installed), ``results.csv`` and
        ``summary.json`` under ``out``, each atomically."""
        out = Path(out)
        rows = self.rows()
        with atomic_output(out / "results.csv", "w") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["metric"])
            writer.writeheader()
            writer.writerows(rows)
        files = {"csv": str(out / "results.csv")}
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            files["parquet"] = None
        else:
            with atomic_output(out / "results.parquet", "wb") as handle:
                pq.write_table(pa.Table.from_pylist(rows), handle)
            files["parquet"] = str(out / "results.parquet")
        self.summary["files"] = files
        write_json(out / "summary.json", {**self.summary, "versions": versions()})

    def per_trial(self, metric: Optional[str] = None) -> np.ndarray:
        """Per-trial values on the factor grid: shape (L_1, ..., L_k, trials) (the
        smallest trial count of any cell)."""
        metric = metric or self.metrics[0]
        shape = [len(self.spec.factors[f]) for f in self.factors]
        values = [self.results[k]["per_trial"][metric] for k in self.keys]
        n = min(len(v) for v in values)
        return np.asarray([v[:n] for v in values], float).reshape(*shape, n)

    def means(self, metric: Optional[str] = None) -> np.ndarray:
        """Cell means on the factor grid, shape (L_1, ..., L_k)."""
        metric = metric or self.metrics[0]
        shape = [len(self.spec.factors[f]) for f in self.factors]
        return np.asarray([self.results[k]["summary"][metric]["mean"] for k in self.keys]).reshape(shape)

    def effects(self, metric: Optional[str] = None) -> List[dict]:
        """Main effects and two-factor interactions ranked by their share of the total
        sum of squares (module docstring): ``source``, ``ss``, ``df``, ``share``, ``F``,
        ``p``."""
        y = self.per_trial(metric)
        k = len(self.factors)
        n = y.shape[-1]
        cell = y.mean(axis=-1)
        grand = cell.mean()
        total = float(((y - grand) ** 2).sum())
        ss_error = float(((y - cell[..., None]) ** 2).sum())
        df_error = cell.size * (n - 1)
        rows = []
        for a in range(k):
            marg = _marginal(cell, (a,))
            ss = n * cell.size / marg.size * float(((marg - grand) ** 2).sum())
            rows.append((self.factors[a], ss, marg.size - 1))
        for a, b in itertools.combinations(range(k), 2):
            mab = _marginal(cell, (a, b))
            ma, mb = _marginal(cell, (a,)), _marginal(cell, (b,))
            resid = mab - ma[:, None] - mb[None, :] + grand
            ss = n * cell.size / mab.size * float((resid ** 2).sum())
            rows.append((f"{self.factors[a]} x {self.factors[b]}", ss, (ma.size - 1) * (mb.size - 1)))
        out = []
        for source, ss, df in rows:
            f_stat = p = None
            if df > 0 and df_error > 0 and ss_error > 0:
                f_stat = (ss / df) / (ss_error / df_error)
                p = float(scipy.stats.f.sf(f_stat, df, df_error))
            out.append({"source": source, "ss": ss, "df": int(df), "share": ss / total if total > 0 else 0.0,
                        "F": f_stat, "p": p})
        out.sort(key=lambda r: -r["ss"])
        listed = sum(r["ss"] for r in out)
        higher = max(total - listed - ss_error, 0.0)
        df_higher = cell.size - 1 - sum(r["df"] for r in out)
        if df_higher > 0:
            out.append({"source": "higher-order interactions", "ss": higher, "df": int(df_higher),
                        "share": higher / total if total > 0 else 0.0, "F": None, "p": None})
        out.append({"source": "residual (trials)", "ss": ss_error, "df": int(df_error),
                    "share": ss_error / total if total > 0 else 0.0, "F": None, "p": None})
        return out

    def effects_table(self, metric: Optional[str] = None) -> str:
        """:meth:`effects` as a markdown table."""
        lines = [f"| source ({metric or self.metrics[0]}) | sum of squares | df | share | F | p |",
                 "|---|---|---|---|---|---|"]
        for r in self.effects(metric):
            f_text = "-" if r["F"] is None else f"{r['F']:.3g}"
            p_text = "-" if r["p"] is None else f"{r['p']:.2g}"
            lines.append(f"| {r['source']} | {r['ss']:.4g} | {r['df']} | {100 * r['share']:.1f} % | "
                         f"{f_text} | {p_text} |")
        return "\n".join(lines)

    def heatmap(self, path, x: str, y: str, metric: Optional[str] = None) -> str:
        """Cell means of ``metric`` over factors ``x`` and ``y`` (averaged over the
        other factors), each cell annotated; returns the absolute path."""
        import matplotlib.pyplot as plt

        from ..plots import save_figure

        metric = metric or self.metrics[0]
        ix, iy = self.factors.index(x), self.factors.index(y)
        grid = _marginal(self.means(metric), (iy, ix))
        fig, ax = plt.subplots(figsize=(1.2 * grid.shape[1] + 2.5, 0.8 * grid.shape[0] + 1.8))
        image = ax.imshow(grid, cmap="viridis", aspect="auto", origin="lower")
        middle = 0.5 * (float(grid.min()) + float(grid.max()))
        for (r, c), value in np.ndenumerate(grid):
            ax.text(c, r, f"{value:.3g}", ha="center", va="center", color="k" if value > middle else "w",
                    fontsize=8)
        ax.set_xticks(range(grid.shape[1]), [str(v) for v in self.spec.factors[x]])
        ax.set_yticks(range(grid.shape[0]), [str(v) for v in self.spec.factors[y]])
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        fig.colorbar(image, ax=ax, label=f"mean {metric}")
        others = [f for f in self.factors if f not in (x, y)]
        ax.set_title(f"{self.spec.family}: mean {metric} ({self.spec.run['backend']}, {self.spec.run['hw']})"
                     + (f"\naveraged over {', '.join(others)}" if others else ""), fontsize=9)
        return save_figure(fig, path)

    def factor_plot(self, path, x: str, metric: Optional[str] = None, facet: Optional[str] = None,
                    hue: Optional[str] = None) -> str:
        """``metric`` against factor ``x`` with 95 % intervals, one line per level of
        ``hue``, one panel per level of ``facet`` (e.g. a control of the problem
        family); other factors averaged. Returns the absolute path."""
        import matplotlib.pyplot as plt

        from ..plots import save_figure

        metric = metric or self.metrics[0]
        facets = self.spec.factors[facet] if facet else [None]
        fig, axes = plt.subplots(1, len(facets), figsize=(4 * len(facets), 3.3), squeeze=False, sharey=True)
        y = self.per_trial(metric)
        for ax, f_level in zip(axes[0], facets):
            for h_level in (self.spec.factors[hue] if hue else [None]):
                chosen = {facet: f_level, hue: h_level}
                means, lows, highs = [], [], []
                for x_level in self.spec.factors[x]:
                    values = _select(y, self.factors, self.spec.factors, {**chosen, x: x_level})
                    means.append(values.mean())
                    low, high = _interval(values)
                    lows.append(values.mean() - low)
                    highs.append(high - values.mean())
                ax.errorbar(range(len(means)), means, yerr=[lows, highs], capsize=3, marker="o",
                            label=None if hue is None else f"{hue} = {h_level}")
            ax.set_xticks(range(len(self.spec.factors[x])), [str(v) for v in self.spec.factors[x]])
            ax.set_xlabel(x)
            ax.set_title(f"{facet} = {f_level}" if facet else self.spec.family, fontsize=9)
        axes[0][0].set_ylabel(f"mean {metric} (95 % CI)")
        if hue:
            axes[0][-1].legend(fontsize=8)
        return save_figure(fig, path)


def _interval(values):
    from .. import statistics

    return statistics.mean_ci(values.ravel())


def _select(y, names, levels, chosen) -> np.ndarray:
    """Per-trial values with the ``chosen`` factors at their levels (None: all)."""
    index = []
    for name in names:
        level = chosen.get(name)
        index.append(slice(None) if level is None else levels[name].index(level))
    return y[tuple(index)]


def _marginal(grid: np.ndarray, axes) -> np.ndarray:
    """Mean of ``grid`` over every axis not in ``axes``, the kept axes in that order."""
    others = tuple(i for i in range(grid.ndim) if i not in axes)
    kept = grid.mean(axis=others) if others else grid
    order = sorted(axes)
    return np.moveaxis(kept, [order.index(a) for a in axes], range(len(axes)))


def _scalar(value):
    return value if isinstance(value, (int, float, str, bool)) or value is None else json.dumps(value)
