from .importer import import_onnx
from .loader import load_onnx

__all__ = ["import_onnx", "load_onnx"]
