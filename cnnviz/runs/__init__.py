"""The run store: every trained network with its settings, history and results.

``store`` (crash-safe save, load, list, delete; ``RunInfo``), ``modelfile`` (only model files the app
wrote are loaded), ``rundata`` (a run's own data, scaled as in training), ``compare`` (tables, settings
that differ, CSV), ``labels`` (how a run is named for people) and ``notebook`` (the notebook's accuracy,
only for a run set up as the notebook did).
"""
