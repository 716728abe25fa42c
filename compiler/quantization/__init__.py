"""Quantization stages: the integer scale, bias corrections and the compile step to
exactly representable integers (:mod:`.quantize`), the compiled network
(:mod:`.fixed_point`), its validation and files, the float network it implements
(:mod:`.effective`), and the stability check every runner makes (:mod:`.stability`:
float networks and compiled ones, through the float network their integers implement)."""
