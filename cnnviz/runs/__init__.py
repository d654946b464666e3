"""The run store: every trained network with its settings, history and results.

``store`` (load, list, delete, clean up; ``RunInfo``), ``saving`` (the crash-safe save), ``modelfile``
(only model files the app wrote are loaded), ``rundata`` (a run's own data, scaled as in training),
``compare`` (tables, settings that differ, CSV), ``labels`` (how a run is named for people) and
``notebook`` (the notebook's accuracy, only for a run set up as the notebook did).
"""
