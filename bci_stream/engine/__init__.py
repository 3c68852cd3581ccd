"""The decode engine: :class:`StepModel` (one onnxruntime session, shared) and :class:`StreamState` (per stream).

Imports nothing heavy: onnxruntime and numpy only, when the submodules are imported.
"""
