"""Streaming classical decoders (CSP+LDA, Riemannian tangent space + LR): fitting, references, export.

* the math: :mod:`.params` (the fitted parameters), :mod:`.reference` (numpy twin, one implementation of
  each step);
* the step graphs: :mod:`.graphs` (both families), :mod:`.logm_graph` (the matrix log), :mod:`.export`;
* fitting: :mod:`.data` (data root, channels, trials), :mod:`.configs` (choices and defaults),
  :mod:`.prepared` (runs + preprocessed cache), :mod:`.features` (outputs at chosen samples),
  :mod:`.fit` (per family), :mod:`.cv` (cross-validation);
* ``bci-stream calibrate``: :mod:`.calibrate` (the command), :mod:`.calibration` (the pipeline),
  :mod:`.calibration_inputs` (loading and checks), :mod:`.calibration_report`;
* studies: :mod:`.study` (cross-subject defaults), :mod:`.holdout` (held-out evaluation).
"""
