"""The checks of a configuration that need the detectors' code, and the full loader.

:func:`load_config` (and :func:`parse_config` for text) is what every command uses: the
YAML read and validated key by key (:mod:`driftline.consumers.config.loading`), then each
listed detector checked against the detectors themselves: its method exists, its options
are ones the method takes, with values its constructor accepts, its features are declared
and of the type the method watches; and ``reference.file`` exists and is of a readable type.
Every problem names the key path and the line, as a
:class:`~driftline.consumers.errors.ConfigError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from driftline.consumers.config.loading import read_config, read_config_file
from driftline.consumers.config.model import DetectorConfig, DriftlineConfig
from driftline.consumers.core.performance import PerformanceWatch
from driftline.consumers.core.plan import PlannedDetector, build, explicit_detectors
from driftline.detectors.methods import METHODS, method_params
from driftline.stream.replay import READABLE_SUFFIXES

Problems = list[tuple[tuple[str | int, ...], str]]


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> DriftlineConfig:
    """The configuration in ``path``, validated and checked; :class:`ConfigError` otherwise."""
    return read_config_file(path, env=env, checks=(detector_problems, reference_problems))


def parse_config(text: str, filename: str = "<string>", env: Mapping[str, str] | None = None) -> DriftlineConfig:
    """The configuration in ``text``, validated and checked; :class:`ConfigError` otherwise."""
    return read_config(text, filename=filename, env=env, checks=(detector_problems, reference_problems))


def detector_problems(cfg: DriftlineConfig) -> Problems:
    """Each listed detector against its method: name, options, their values, its features."""
    if not isinstance(cfg.detectors, list):
        return []
    problems: Problems = []
    for i, det in enumerate(cfg.detectors):
        if det.method not in METHODS:
            problems.append((("detectors", i, "method"),
                             f"unknown detector method {det.method!r}; known: {', '.join(sorted(METHODS))}"))
            continue
        unknown = set(det.options) - method_params(det.method)
        if unknown:
            problems.append((("detectors", i, "options"),
                             f"unknown option(s) {', '.join(sorted(unknown))} for method {det.method!r}; "
                             f"accepted: {', '.join(sorted(method_params(det.method)))}"))
            continue
        found = [(("detectors", i, key), msg) for key, msg in _against_stream(cfg, det)]
        problems += found
        if not found:
            problems += [(("detectors", i, "options"), msg) for msg in _option_values(cfg, det)]
    return problems


def reference_problems(cfg: DriftlineConfig) -> Problems:
    """``reference.file`` must exist and be a file type the replay reads."""
    name = cfg.reference.file
    if name is None:
        return []
    path = Path(name)
    if not path.is_file():
        return [(("reference", "file"), f"{path.resolve()} does not exist (it is read relative to the "
                                         "working directory)")]
    if not "".join(path.suffixes[-2:]).lower().endswith(READABLE_SUFFIXES):
        return [(("reference", "file"), f"{path.name}: unknown file type (use {', '.join(READABLE_SUFFIXES)})")]
    return []


def _option_values(cfg: DriftlineConfig, det: DetectorConfig) -> list[str]:
    """The detector built with its options, as the roles will build it: what its constructor refuses.

    The levels driftline calibrates are always ones the constructors accept (a warning level
    not above the drift level is dropped), so they are calibrated here only when the user's
    own ``alpha_warning`` is checked against the calibrated ``alpha_drift``; otherwise the
    Bonferroni levels stand in for them and SciPy is not imported.
    """
    planned: list[PlannedDetector] = explicit_detectors(cfg, [det])
    calibrate = "alpha_warning" in det.options and "alpha_drift" not in det.options
    try:
        build(cfg, planned, calibrate=calibrate)
    except (ValueError, TypeError) as exc:
        return [str(exc)]
    return []


def _against_stream(cfg: DriftlineConfig, det: DetectorConfig) -> list[tuple[str, str]]:
    problems = []
    input_type = METHODS[det.method].input_type
    if input_type == "messages":  # watches the stream's messages, not a column
        if det.kind != "data_quality":
            problems.append(("kind", f"method {det.method!r} watches the messages' schema: its kind is data_quality"))
        if det.features:
            problems.append(("features", f"method {det.method!r} watches no features; remove 'features'"))
    elif det.kind in ("data_drift", "data_quality"):
        if not det.features:
            problems.append(("features", f"kind {det.kind} needs a list of features"))
        for feature in det.features:
            ftype = cfg.stream.feature_types().get(feature)
            if ftype is None:
                problems.append((
                    "features",
                    f"feature {feature!r} is not declared in stream.features "
                    f"(declared: {', '.join(cfg.stream.features)})",
                ))
            elif ftype != input_type:
                problems.append(("method", f"method {det.method!r} takes {input_type} values, {feature!r} is {ftype}"))
    else:
        if det.features:
            problems.append(("features", f"kind {det.kind} watches no features; remove 'features'"))
        target = {"label_drift": cfg.stream.label, "prediction_drift": cfg.stream.prediction}
        if det.kind in target and target[det.kind] is None:
            what = "label" if det.kind == "label_drift" else "prediction"
            problems.append(("kind", f"kind {det.kind} needs stream.{what} to be declared"))
        elif det.kind in target and input_type == "binary" and target[det.kind].type != "binary":
            what = "label" if det.kind == "label_drift" else "prediction"
            problems.append(("method", f"method {det.method!r} takes 0/1 values; stream.{what} is "
                                       f"{target[det.kind].type}"))
        if det.kind == "concept_drift" and cfg.stream.label is None:
            problems.append(("kind", "kind concept_drift needs stream.label to be declared"))
        if det.kind == "performance" and not PerformanceWatch.wanted(cfg):
            problems.append(("kind", ("kind performance watches the estimated performance: declare "
                                      "stream.prediction.score (a classifier) or a regression label and prediction")))
        elif det.kind == "performance" and input_type not in ("numeric",):
            problems.append(("method", (f"method {det.method!r} takes {input_type} values; the estimated "
                                        "performance is a number per event (use cusum, ks, adwin, ...)")))
    return problems
