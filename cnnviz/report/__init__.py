"""The lab report: one self-contained HTML file a student hands in for a run (:mod:`.inputs` gathers the
measurements with the inspection backends, :mod:`.page` writes the HTML)."""
