"""The registry behind models, metrics, benchmarks and weight files (a2bench.core.registry)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import a2bench.core.registry as registry
from a2bench.core.adapter import Adapter
from a2bench.core.registry import Registry, RegistryError, UnknownNameError
from a2bench.core.weights import WEIGHTS, WeightFile
from a2bench.models import MODELS


class Plain(Adapter):
    """An adapter that leaves its name to the registry."""


def test_looking_up_one_entry_imports_no_other_entry_module() -> None:
    probe = textwrap.dedent(
        """
        import json, sys
        from a2bench.core.data import BENCHMARKS
        from a2bench.metrics import METRICS
        from a2bench.models import MODELS
        listed = MODELS.names() + METRICS.names() + BENCHMARKS.names()
        before = set(sys.modules)
        MODELS.get("reference-copy")
        METRICS.get("psnr")
        print(json.dumps({"listed": listed, "before": sorted(before), "after": sorted(sys.modules)}))
        """
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    doc = json.loads(out.stdout)
    assert {"pose-warp", "animatex", "fid", "synth"} <= set(doc["listed"])
    others = ["a2bench.baselines.pose_warp", "a2bench.baselines.command", "a2bench.animatex.adapter",
              "a2bench.metrics.fid", "a2bench.metrics.ssim", "a2bench.core.synth", "torch"]  # fmt: skip
    assert [m for m in others if m in doc["after"]] == []
    assert {"a2bench.baselines.reference_copy", "a2bench.metrics.pixel"} <= set(doc["after"]) - set(doc["before"])


def test_an_entry_of_the_wrong_kind_is_refused_naming_it_and_what_was_expected() -> None:
    models = Registry("model", base=type[Adapter], builtins={"video": "a2bench.core.videoio:Video"})
    assert "video" in models  # nothing imported or checked before the lookup
    with pytest.raises(RegistryError, match=r"model 'video' \('a2bench.core.videoio:Video'\) is <class 'a2bench.core."
                       r"videoio.Video'>; expected a subclass of a2bench.core.adapter.Adapter"):  # fmt: skip
        models.get("video")
    with pytest.raises(RegistryError, match=r"weight file 'x.pth' \(registered object\) is \{'url': 'x'\}; expected "
                       r"an instance of a2bench.core.weights.WeightFile"):  # fmt: skip
        Registry("weight file", base=WeightFile).register("x.pth", {"url": "x"})
    with pytest.raises(RegistryError, match=r"model 'nothing': module 'a2bench.core.adapter' has no attribute "
                       r"'Nothing' \('a2bench.core.adapter:Nothing'\)"):  # fmt: skip
        Registry("model", builtins={"nothing": "a2bench.core.adapter:Nothing"}).get("nothing")
    with pytest.raises(RegistryError, match=r"model 'bad': 'no-colon' is not a 'module:attr' reference"):
        Registry("model").register("bad", "no-colon")


def test_a_name_taken_by_another_target_is_an_error() -> None:
    models = Registry("model", base=type[Adapter])
    models.register("plain", Plain)
    models.register("plain", Plain)  # the same target again: nothing changes
    with pytest.raises(RegistryError, match="model 'plain' is registered twice"):
        models.register("plain")(type("Other", (Adapter,), {}))
    with pytest.raises(RegistryError, match="model 'reference-copy' is registered twice"):
        MODELS.register("reference-copy", "a2bench.baselines.folder:Folder")


def test_the_registry_gives_each_entry_its_name_and_refuses_another() -> None:
    models = Registry("model", base=type[Adapter])

    @models.register("decorated")
    class Decorated(Adapter):
        pass

    assert Decorated.name == "decorated" and MODELS.get("reference-copy").name == "reference-copy"
    named = type("Named", (Adapter,), {"name": "one-name"})
    with pytest.raises(RegistryError, match=r"model 'another-name' \(registered object\) defines name 'one-name'"):
        models.register("another-name", named)
    spec = WeightFile("a.pth", "https://example.org/a.pth", "tests")
    with pytest.raises(RegistryError, match=r"weight file 'b.pth' \(registered object\) defines name 'a.pth'"):
        WEIGHTS.register("b.pth", spec)
    assert "b.pth" not in WEIGHTS


def test_temporary_registration_restores_the_registry() -> None:
    before, folder = MODELS.names(), MODELS.get("folder")
    new, stand_in = type("New", (Adapter,), {}), type("StandIn", (Adapter,), {})
    with MODELS.temporary("test-new", new) as registered:
        assert registered is new and MODELS.get("test-new") is new and new.name == "test-new"
    with MODELS.temporary("folder", stand_in):  # in place of an existing entry
        assert MODELS.get("folder") is stand_in
    with pytest.raises(RuntimeError), MODELS.temporary("test-new", new):
        raise RuntimeError("the block failed")
    assert MODELS.names() == before and MODELS.get("folder") is folder
    assert "name" not in vars(new) and "name" not in vars(stand_in)  # the names they had for the blocks are gone


def test_an_unknown_name_suggests_close_ones() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown model 'referense-copy'. Did you mean 'reference-copy'\?"):
        MODELS.get("referense-copy")


def test_entry_points_are_listed_without_import_and_loaded_on_first_lookup(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "a2bench_test_plugin.py").write_text(
        "from a2bench.core.adapter import Adapter\n\nclass PluginModel(Adapter):\n    description = 'from a plugin'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    points = [
        EntryPoint("plugin-model", "a2bench_test_plugin:PluginModel", "a2bench.models"),
        EntryPoint("plain", "a2bench_test_plugin:PluginModel", "a2bench.models"),  # a built-in name wins
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: [p for p in points if p.group == group])
    models = Registry("model", base=type[Adapter], entry_point_group="a2bench.models")
    models.register("plain", Plain)
    assert models.names() == ["plain", "plugin-model"] and "a2bench_test_plugin" not in sys.modules
    monkeypatch.delitem(sys.modules, "a2bench_test_plugin", raising=False)  # imported below: forgotten after
    plugin = models.get("plugin-model")
    assert plugin.__module__ == "a2bench_test_plugin" and plugin.name == "plugin-model" and models.get("plain") is Plain
    with pytest.raises(UnknownNameError, match="Did you mean 'plugin-model'"):
        models.get("plugin-modle")
