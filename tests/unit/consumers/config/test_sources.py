"""Classes and kafka-python keys read from source: what ``validate`` checks without importing
River or kafka-python is what an import finds, and what the source does not say is imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from driftline.consumers.config.model import kafka_client_keys
from driftline.consumers.config.sources import class_dict_keys, defines
from driftline.consumers.core.checks import parse_config
from driftline.consumers.errors import ConfigError


@pytest.fixture
def pkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package ``srcpkg`` on sys.path, never imported by the tests that read it."""
    root = tmp_path / "srcpkg"
    root.mkdir()
    files = {
        "__init__.py": "from .models import Model, renamed as Alias\nfrom . import models\n",
        "models.py": """
            import typing
            class Model: ...
            def renamed(): ...
            Twice = int
            class Twice: ...
            if typing.TYPE_CHECKING:
                class Conditional: ...
            def train(x): ...
            """,
        "lazy.py": "def __getattr__(name):\n    return type(name, (), {})\n",
        "star.py": "from .models import *\n",
        "config.py": "class Client:\n    DEFAULT_CONFIG = {'a': 1, 'b': 2}\n    OTHER = dict(a=1)\n",
    }
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path))
    return root


def test_a_class_in_source_through_re_exports(pkg: Path) -> None:
    assert defines("srcpkg.models", "Model") is True
    assert defines("srcpkg", "Model") is True  # from .models import Model
    assert "srcpkg" not in sys.modules  # read, not imported


@pytest.mark.parametrize(("module", "name"), [
    ("srcpkg.models", "Missing"),  # not bound: the import says so, with its message
    ("srcpkg.models", "Twice"),  # bound twice
    ("srcpkg.models", "Conditional"),  # bound only on a condition
    ("srcpkg.models", "renamed"),  # a function where a class is asked for
    ("srcpkg", "Alias"),  # re-exports a function
    ("srcpkg.lazy", "Anything"),  # a module __getattr__
    ("srcpkg.star", "Model"),  # a star import
    ("srcpkg.nosuch", "Model"),
    ("nosuchpackage_xyz.mod", "Model"),
])
def test_what_the_source_does_not_say_is_left_to_an_import(pkg: Path, module: str, name: str) -> None:
    assert defines(module, name) is None


def test_functions_when_asked(pkg: Path) -> None:
    assert defines("srcpkg.models", "train", functions=True) is True


def test_a_dict_literal_of_a_class(pkg: Path) -> None:
    assert class_dict_keys("srcpkg.config", "Client", "DEFAULT_CONFIG") == {"a", "b"}
    assert class_dict_keys("srcpkg.config", "Client", "OTHER") is None


def test_the_kafka_keys_read_from_source_are_the_imported_ones() -> None:
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

    imported = set(KafkaConsumer.DEFAULT_CONFIG) | set(KafkaProducer.DEFAULT_CONFIG) | set(
        KafkaAdminClient.DEFAULT_CONFIG)
    assert kafka_client_keys() == imported


def test_the_river_classes_read_from_source() -> None:
    probe = ("import sys\nfrom driftline.consumers.config.sources import defines\n"
             "print([defines(*d.rsplit('.', 1)) for d in sys.argv[1:]], 'river' in sys.modules)")
    names = ["river.linear_model.LogisticRegression", "river.preprocessing.StandardScaler",
             "river.tree.HoeffdingTreeRegressor", "river.linear_model.NoSuchModel"]
    out = subprocess.run([sys.executable, "-c", probe, *names], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[True, True, True, None] False"


MINIMAL = "stream: {name: s, features: {x: numeric}, label: {field: label, type: binary}}\n"


def problems(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return info.value.problems


def test_a_class_the_module_lacks_is_still_a_problem() -> None:
    [(key, _, message)] = problems(MINIMAL + "learner: {model: river.linear_model.NoSuchModel}\n")
    assert key == "learner.model" and "has no class 'NoSuchModel'" in message


def test_a_module_that_does_not_exist_is_still_a_problem() -> None:
    [(key, _, message)] = problems(MINIMAL + "learner: {model: nosuchpackage_xyz.Model}\n")
    assert key == "learner.model" and "cannot import module" in message


def test_a_warning_level_below_the_calibrated_drift_level_is_still_a_problem() -> None:
    # the drift level is calibrated (not set): the check of alpha_warning against it calibrates
    text = MINIMAL + "detectors:\n  - {name: k, method: ks, features: [x], options: {alpha_warning: 1.0e-9}}\n"
    [(key, _, message)] = problems(text)
    assert key == "detectors[0].options" and "alpha_warning" in message
