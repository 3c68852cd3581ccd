"""Streaming classical decoders (CSP+LDA, Riemannian tangent space + LR): fitting, references, export."""
