"""Deployment: what quantization cost (:mod:`.report`), placing a compiled network on
cores and chips (:mod:`.placement`), its cost per decode (:mod:`.cost`), and export to
NIR (:mod:`.nir_export`)."""
