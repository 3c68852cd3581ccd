"""Offline analysis of exported models: memory time constants (introspection). Needs the train extra."""
