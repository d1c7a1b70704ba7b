"""The real models every benchmark runs, by short name, from ../shared/models beside the checkout, and the
commit a benchmark measures (printed with its tables and stored in its JSON)."""
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = REPO.parent / "shared" / "models"

# (short name, path under the models folder): the float models of issue 2 item 9, then the int8 QDQ
# models of issue 3 item 4.
MODELS = [
    ("sine", "sine/model.onnx"),
    ("mnist", "mnist/model.onnx"),
    ("ad01_fp32", "mlperf_tiny/ad01_fp32.onnx"),
    ("kws_float32", "mlperf_tiny/kws_ref_model_float32.onnx"),
    ("mobilenet_v2_0.35_128", "mobilenet/mobilenet_v2_0.35_128_tfs_channel_first.onnx"),
    ("mnist_int8", "mnist/mnist-8_qdq_int8.onnx"),
    ("ad01_int8", "mlperf_tiny/ad01_int8.onnx"),
    ("kws_int8", "mlperf_tiny/kws_ref_model_int8.onnx"),
    ("ww_int8", "mlperf_tiny/str_ww_ref_model.onnx"),
]


def commit() -> str:
    """HEAD's short hash, with -dirty when tracked files differ from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True).stdout.strip()
    head = git("rev-parse", "--short=12", "HEAD") or "unknown"
    return head + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
