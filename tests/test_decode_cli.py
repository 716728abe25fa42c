"""``lava-causal compile FEATURES.npz`` (a decoder) and ``lava-causal decode``."""
import json
import warnings

import numpy as np
import pytest

from compiler import QuantizationWarning
from lava_causal import tasks
from lava_causal.cli import main
from lava_causal.decoder import load_decoder

DECODE_JSON_KEYS = {"rates", "steps", "backend", "hw", "dt", "seed", "versions"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("decode")
    u = tasks.positive_features(seed=3, m=30, n=20)
    r = np.zeros((3, 20))
    r[0, 4], r[1, [2, 9]], r[2, 15] = 40, (30, 20), 50
    np.savez(folder / "features.npz", features=u)
    np.savez(folder / "obs.npz", observation=r @ u.T)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QuantizationWarning)
        assert main(["compile", str(folder / "features.npz"), "-o", str(folder / "decoder.npz")]) == 0
    return folder


def test_compile_of_features_alone_writes_a_decoder(files):
    decoder = load_decoder(files / "decoder.npz")
    assert decoder.n == 20 and decoder.m == 30 and decoder.hw == "loihi2"


def test_decode_json_has_the_promised_keys(files, capsys):
    capsys.readouterr()
    assert main(["decode", str(files / "decoder.npz"), str(files / "obs.npz"), "--steps", "2000",
                 "--seed", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert DECODE_JSON_KEYS <= set(out)
    rates = np.array(out["rates"])
    assert rates.shape == (3, 20) and out["steps"] == [2000] * 3 and out["seed"] == 4
    assert np.argmax(rates[0]) == 4 and np.argmax(rates[2]) == 15


def test_decode_writes_results_and_replays_from_the_seed(files, capsys):
    out = files / "res.npz"
    assert main(["decode", str(files / "decoder.npz"), str(files / "obs.npz"), "--steps", "500",
                 "-o", str(out)]) == 0
    saved = np.load(out)
    seed = json.loads(str(saved["provenance"]))["seed"]
    capsys.readouterr()
    assert main(["decode", str(files / "decoder.npz"), str(files / "obs.npz"), "--steps", "500",
                 "--seed", str(seed), "--json"]) == 0
    np.testing.assert_array_equal(np.array(json.loads(capsys.readouterr().out)["counts"]),
                                  saved["counts"])


@pytest.mark.parametrize("argv, message", [
    (["decode", "{d}/decoder.npz", "{d}/features.npz"], "must hold one array named 'observation'"),
    (["decode", "{d}/obs.npz", "{d}/obs.npz"], "not a compiled network"),
    (["decode", "{d}/decoder.npz", "{d}/obs.npz", "--target-error", "2"], "--target-error"),
    (["solve", "{d}/decoder.npz"], "lacks array"),
])
def test_decode_errors_are_one_line_exit_2(files, capsys, argv, message):
    argv = [a.format(d=files) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
