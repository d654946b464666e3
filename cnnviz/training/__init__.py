"""Training: settings, data pipeline, the loop and the job queue.

``spec`` (``TrainSpec`` and every factory that makes one), ``pipeline`` (data to ``tf.data``), ``callbacks``
(progress, stop, learning-rate schedule, best weights), ``tta`` (test-time augmentation), ``loop``
(``train``: fit, test, save the run) and ``jobs`` (the queue of training jobs and its cap).
"""
