"""Training: settings, data pipeline, the loop and the job queue.

``spec`` (``TrainSpec`` and every factory that makes one), ``pipeline`` (data to ``tf.data``), ``callbacks``
(progress, stop, learning-rate schedule, best weights), ``tta`` (test-time augmentation), ``loop``
(``train``: fit, test, save the run), ``jobtable`` (the jobs as rows in SQLite: one queue and one cap per
``CNNVIZ_HOME``), ``jobfiles`` (a job's data file and checkpoint beside its row, and when they go), ``worker``
(the warm worker processes that train them) and ``jobs`` (submit, poll, stop).
"""
