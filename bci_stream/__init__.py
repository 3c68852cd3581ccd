"""bci-stream: a real-time streaming decoder service for brain-computer interfaces."""

__version__ = "0.1.0"
