"""The command line starts without importing the heavy libraries: they come with the command that needs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ("scipy", "river", "pandas", "plotly", "driftline.detectors", "driftline.consumers.roles")

PROBE = """
import sys
from driftline.consumers.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("MODULES:" + ",".join(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def imported_after(*argv: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv], capture_output=True, text=True,
                         check=True, timeout=60)
    line = next(x for x in out.stdout.splitlines() if x.startswith("MODULES:"))
    return [m for m in line.removeprefix("MODULES:").split(",") if m]


def test_help_and_usage_errors_import_nothing_heavy() -> None:
    assert imported_after("--help") == []
    assert imported_after("backtest", "--help") == []
    assert imported_after("backtest") == []  # a usage error: --input and --output missing


def test_a_command_imports_what_it_needs() -> None:
    assert "driftline.detectors" in imported_after("validate", "no-such-file.yaml")


#: what ``validate`` must not import: it checks a configuration, it computes nothing
NOT_FOR_VALIDATE = ("scipy", "river", "pandas", "plotly", "sklearn", "kafka")

EVERY_METHOD = """\
stream:
  name: every-method
  features: {x: numeric, y: numeric, c: categorical}
  label: {field: label, type: binary}
  prediction: {field: prediction, type: binary}
kafka:
  client: {security_protocol: PLAINTEXT, session_timeout_ms: 10000}
learner:
  model: river.linear_model.LogisticRegression
  preprocessing: [river.preprocessing.StandardScaler]
detectors:
  - {name: ks, method: ks, features: [x], options: {window: 500, stride: 50}}
  - {name: cvm, method: cvm, features: [x]}
  - {name: cusum, method: cusum, features: [x, y]}
  - {name: adwin, method: adwin, features: [x]}
  - {name: ph, method: page_hinkley, features: [x]}
  - {name: psi, method: psi, features: [x]}
  - {name: js, method: js, features: [x]}
  - {name: wd, method: wasserstein, features: [x]}
  - {name: pca, method: pca, features: [x, y]}
  - {name: q, method: quality, kind: data_quality, features: [x]}
  - {name: qc, method: quality_cat, kind: data_quality, features: [c]}
  - {name: chi2, method: chi2, features: [c]}
  - {name: schema, method: schema, kind: data_quality}
  - {name: lab, method: bernoulli, kind: label_drift}
  - {name: pred, method: chi2, kind: prediction_drift}
  - {name: ddm, method: ddm, kind: concept_drift}
  - {name: eddm, method: eddm, kind: concept_drift}
  - {name: hddm, method: hddm, kind: concept_drift}
  - {name: err, method: bernoulli, kind: concept_drift, options: {direction: up}}
"""

VALIDATE_PROBE = """
import sys
from driftline.consumers.cli.main import main
code = main(sys.argv[1:])
print("MODULES:" + ",".join(sorted(m for m in {heavy!r} if m in sys.modules)))
print("CODE:" + str(code))
"""


def validated(path: str) -> tuple[int, list[str]]:
    out = subprocess.run([sys.executable, "-c", VALIDATE_PROBE.format(heavy=NOT_FOR_VALIDATE), "validate", path],
                         capture_output=True, text=True, check=True, timeout=60)
    lines = out.stdout.splitlines()
    modules = next(x for x in lines if x.startswith("MODULES:")).removeprefix("MODULES:")
    code = int(next(x for x in lines if x.startswith("CODE:")).removeprefix("CODE:"))
    return code, [m for m in modules.split(",") if m]


def test_validate_checks_the_example_without_scipy_pandas_river_or_kafka() -> None:
    example = Path(__file__).resolve().parents[4] / "examples" / "credit-scoring.yaml"
    assert validated(str(example)) == (0, [])


def test_validate_builds_every_method_without_scipy_pandas_river_or_kafka(tmp_path: Path) -> None:
    cfg = tmp_path / "every.yaml"
    cfg.write_text(EVERY_METHOD)
    assert validated(str(cfg)) == (0, [])


def test_status_imports_no_report_and_no_detector_library(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("stream: {name: s, features: {x: numeric}}\nkafka: {embedded_address: '127.0.0.1:1'}\n")
    assert not set(imported_after("status", str(cfg))) & {"scipy", "river", "pandas", "plotly"}
