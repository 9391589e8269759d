"""Thin command-line entry points of the DVC stages (`python -m stages.<name>`); the logic is in emotion_lib."""
