"""Every reproduction runs in its --quick form and shows the paper's qualitative claims."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lava_causal import reproduction
from lava_causal.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reproduction")
    return {name: reproduction.run(name, folder, quick=True, seed=0, progress=False)
            for name in reproduction.EXPERIMENTS}


def test_every_experiment_writes_json_and_png(outputs):
    for name, record in outputs.items():
        data = json.loads(Path(record["json"]).read_text())
        assert data["settings"]["quick"] is True and "lava-nc" in data["settings"]["versions"]
        assert record["figures"] and all(open(f, "rb").read(4) == b"\x89PNG" for f in record["figures"])


def test_fig2_only_the_target_stays_active_and_converges(outputs):
    fig2 = outputs["fig2"]["numbers"]
    d = fig2["discrimination"]
    assert d["map_support"] == [10] and d["active_causes"] == [10]
    assert d["spikes_outside_support_per_trial"] < 10
    assert d["float"]["mean_relative_error"] < 0.1 and d["loihi2"]["mean_relative_error"] < 0.1
    assert d["float"]["relative_error_of_mean"] <= d["float"]["mean_relative_error"] + 1e-12
    assert d["angular_error_20ms_windows_after_100ms_median_deg"] < 15
    for task in ("mixture", "approximation"):
        assert fig2[task]["slope_percent_error_vs_T"] < -0.5 or task == "approximation"
        assert fig2[task]["slope_relative_error_vs_T"] < -0.2
    assert fig2["approximation"]["float"]["angular_error_deg"] == pytest.approx(
        fig2["approximation"]["map_angular_error_deg"], abs=1.0)


def test_fig3_l1_is_sparser_than_l2_and_leak_acts_like_l1(outputs):
    fig3 = outputs["fig3"]["numbers"]
    assert fig3["L1"]["active_causes_above_1Hz"] < fig3["L2"]["active_causes_above_1Hz"]
    assert fig3["L1"]["hoyer_sparsity"] > fig3["L2"]["hoyer_sparsity"] + 0.3
    assert fig3["leaky"]["hoyer_sparsity"] > fig3["L2"]["hoyer_sparsity"] + 0.3
    assert fig3["none"]["active_causes_above_1Hz"] > fig3["L1"]["active_causes_above_1Hz"]


def test_fig4_mistuned_network_stays_stable_and_accurate(outputs):
    fig4 = outputs["fig4"]["numbers"]
    mistuned = fig4["exponential, mistuned U[-0.2, 0]"]
    assert mistuned["stable"] and mistuned["steps_with_cascade"] == 0
    assert mistuned["angular_error_deg"] < 10
    for label in ("exponential", "delta", "delta, 2 ms delay"):
        assert fig4[label]["angular_error_deg"] < 10 and fig4[label]["cv_isi"] > 0


def test_fig5_shuffling_raises_the_error(outputs):
    fig5 = outputs["fig5"]["numbers"]
    clean = fig5["variance 0"]
    assert clean["trial_shuffled_bin_angular_error_deg"] > 2 * clean["bin_angular_error_deg"]
    assert clean["bin_shuffled_bin_angular_error_deg"] > clean["bin_angular_error_deg"]
    assert fig5["variance 0.3"]["percent_error"] > fig5["variance 0"]["percent_error"]


def test_fig6_nlif_finds_all_four_signal_tracking_misses_the_weak(outputs):
    fig6 = outputs["fig6"]["numbers"]
    nlif, tracking = fig6["nLIF, delta"], fig6["signal tracking, delta"]
    assert all(nlif["found"].values()), nlif["rates"]
    assert tracking["found"]["10"] and tracking["found"]["20"]
    assert not tracking["found"]["30"] and not tracking["found"]["40"], tracking["rates"]
    # error falls like 1/T for nLIF, saturates for signal tracking
    assert nlif["slope_relative_error_last_decade"] < -0.6
    assert tracking["slope_relative_error_last_decade"] > -0.5
    assert all(nlif["loihi2"]["found"][c] for c in ("10", "20", "30"))


def test_quantization_study_keeps_every_quantized_optimum_near_the_map(outputs):
    q = outputs["quantization"]["numbers"]
    for task, row in q.items():
        assert np.isfinite(row["loihi1"]["percent_error"])
        if task != "mixture":  # cond 3e6: its quantized optimum is not resolved (the compile shifts it)
            # The weight compensation puts every chip's quantized optimum near r*, whatever its weight bits.
            for target in ("loihi1", "loihi2", "wide16"):
                assert row[target]["r_q_vs_r_star"] < 0.01, (task, target)


def test_cli_and_example_script(tmp_path):
    assert main(["reproduce", "fig3", "--quick", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "fig3_regularization.json").exists()
    assert main(["reproduce", "fig9"]) == 2
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "fig3_regularization.py"), "--quick",
                           "--out", str(tmp_path / "script")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "wrote" in proc.stdout


def test_unknown_experiment_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="experiment"):
        reproduction.run("fig7", tmp_path)
