"""The torchvision hook makes the metric/model packages importable, and is inert when not needed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def _run(code: str, *, path: Path | None = None) -> subprocess.CompletedProcess:
    env_path = f"import sys; sys.path.insert(0, {str(path)!r})\n" if path else ""
    return subprocess.run(
        [sys.executable, "-c", env_path + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )


def test_packages_that_import_torchvision_work_after_import_a2bench() -> None:
    result = _run(
        """
        import a2bench
        import torchvision, torchvision.models
        import lpips, pytorch_fid.inception, cdfvd.fvd, torchmetrics
        from transformers import PreTrainedModel
        from diffusers import WanTransformer3DModel, AutoencoderKLWan
        from a2bench.core.compat import shimmed_torchvision_ops
        net = torchvision.models.alexnet()  # pure-Python model code runs
        # The hook defined schemas exactly when torchvision's own extension failed to load.
        expected = () if torchvision.extension._has_ops() else ("nms", "qnms")
        assert shimmed_torchvision_ops() == expected, (shimmed_torchvision_ops(), expected)
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_hook_is_inert_when_the_extension_loads(tmp_path: Path) -> None:
    # A stand-in torchvision whose extension reports working ops: the hook must define nothing.
    fake = tmp_path / "torchvision"
    fake.mkdir()
    (fake / "__init__.py").write_text("from . import extension\nfrom . import _meta_registrations\n")
    (fake / "extension.py").write_text("def _has_ops():\n    return True\n")
    (fake / "_meta_registrations.py").write_text("LOADED = True\n")
    result = _run(
        """
        import a2bench, torch, torchvision
        from a2bench.core.compat import shimmed_torchvision_ops
        assert torchvision._meta_registrations.LOADED
        assert shimmed_torchvision_ops() == ()
        try:
            torch.ops.torchvision.nms
        except (AttributeError, RuntimeError):
            print("ok")
        """,
        path=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_install_is_idempotent() -> None:
    result = _run(
        """
        import sys, a2bench
        from a2bench.core.compat import install_torchvision_hook, _TorchvisionSchemaHook
        install_torchvision_hook(); install_torchvision_hook()
        print(sum(isinstance(h, _TorchvisionSchemaHook) for h in sys.meta_path))
        """
    )
    assert result.stdout.strip() == "1", result.stderr
