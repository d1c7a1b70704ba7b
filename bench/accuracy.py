"""Int8 post-training quantization accuracy on real labelled data, aot against ONNX Runtime's
quantize_static on the same calibration/test split.

mnist-8 (../shared/models/mnist/model.onnx) on scikit-learn's digits resized to 28x28
(digits_as_mnist.npz): the first 200 images calibrate, the other 1597 test. For aot the accuracy
is measured on the compiled integer C (in-process through ctypes), the thing that ships.

    python bench/accuracy.py [--calib 200] [--observers minmax percentile mse]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aot.compiler import compile_model, write_library  # noqa: E402
from aot.ir.export import to_onnx  # noqa: E402
from aot.quant.config import QuantConfig  # noqa: E402
from aot.quant.ptq import float_graph, quantize_graph  # noqa: E402
from aot.reference import ort_session  # noqa: E402
from aot.targets.host import load  # noqa: E402

MODELS = ROOT.parent / "shared" / "models"


def accuracy_ort(model: str | Path | onnx.ModelProto, x: np.ndarray, y: np.ndarray, desc: str) -> float:
    sess = ort_session(model)
    name = sess.get_inputs()[0].name
    hits = sum(int(np.argmax(sess.run(None, {name: x[i:i + 1]})[0]) == y[i])
               for i in tqdm(range(len(x)), desc=desc, leave=False))
    return hits / len(x)


def accuracy_c(graph, x: np.ndarray, y: np.ndarray, desc: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        host = load(write_library(compile_model(graph), Path(tmp) / "lib"))
        hits = sum(int(np.argmax(host.run([x[i:i + 1]])[0]) == y[i])
                   for i in tqdm(range(len(x)), desc=desc, leave=False))
    return hits / len(x)


def ort_quantize_static(model_path: Path, calib: np.ndarray, out: Path) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter({"Input3": calib[i:i + 1]} for i in range(len(calib)))

        def get_next(self):
            return next(self.it, None)

    # mnist-8 is opset 8; per-channel DequantizeLinear needs opset 13, as for mnist-8_qdq_int8.onnx.
    upgraded = out.with_name("opset13.onnx")
    onnx.save(onnx.version_converter.convert_version(onnx.load(str(model_path)), 13), str(upgraded))
    quantize_static(str(upgraded), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calib", type=int, default=200, help="calibration images (default 200)")
    parser.add_argument("--observers", nargs="+", default=["minmax", "percentile", "mse"])
    args = parser.parse_args()
    model_path = MODELS / "mnist" / "model.onnx"
    data_path = MODELS / "mnist" / "digits_as_mnist.npz"
    if not model_path.exists() or not data_path.exists():
        print(f"skipped: {model_path} or {data_path} is missing")
        return 0
    data = np.load(data_path)
    x, y = data["x"].astype(np.float32), data["y"].astype(np.int64)
    calib_x, test_x, test_y = x[:args.calib], x[args.calib:], y[args.calib:]

    rows = [("float (ONNX Runtime)", accuracy_ort(model_path, test_x, test_y, "float"))]
    graph = float_graph(model_path)
    samples = [[calib_x[i:i + 1]] for i in range(len(calib_x))]
    for observer in args.observers:
        config = QuantConfig(default={"observer": observer, "granularity": "per_channel"})
        qgraph = quantize_graph(graph.copy(), samples, config, progress=False)
        rows.append((f"aot int8, {observer} (compiled C)", accuracy_c(qgraph, test_x, test_y, observer)))
        rows.append((f"aot int8, {observer} (its QDQ in ONNX Runtime)",
                     accuracy_ort(to_onnx(qgraph), test_x, test_y, observer + " ort")))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ort_q.onnx"
        ort_quantize_static(model_path, calib_x, out)
        rows.append(("onnxruntime quantize_static int8 (QDQ, per channel)", accuracy_ort(out, test_x, test_y, "ort q")))

    base = rows[0][1]
    print(f"mnist-8 on digits_as_mnist: calibrate on {len(calib_x)}, test on {len(test_x)}\n")
    print("| quantization | accuracy | vs float (points) |")
    print("|---|---:|---:|")
    for name, acc in rows:
        print(f"| {name} | {100 * acc:.2f}% | {100 * (acc - base):+.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
