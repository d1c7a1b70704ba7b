"""aot: an ahead-of-time compiler from ONNX models to standalone C libraries."""

__version__ = "0.1.0"
