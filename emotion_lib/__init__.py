"""Library behind the facial-emotion-recognition DVC pipeline.

Every stage in ``stages/`` is a thin command-line wrapper around one function
of this package; all logic, validation and I/O conventions live here.
"""

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
