"""Factorial sensitivity studies: a TOML spec of factors and levels over a problem family
(:mod:`.spec`, :mod:`.families`), cells run locally or on Dask and stored by content
(:mod:`.engine`, :mod:`.cells`, :mod:`.store`), and the table, effects and pictures
(:mod:`.results`)."""
from .engine import run
from .results import StudyResult
from .spec import Spec, SpecError, load_spec

__all__ = ["Spec", "SpecError", "StudyResult", "load_spec", "run"]
