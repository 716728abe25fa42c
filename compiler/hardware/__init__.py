"""The target chips: their configs (``configs/*.toml``, :mod:`.config`), the integer
arithmetic of their neurons (:mod:`.arithmetic`) and the numbers they can represent
(:mod:`.encoding`)."""
