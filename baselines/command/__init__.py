"""The ``command`` adapter: runs another model's official code from a YAML template (docs/baselines.md).

``template`` loads and renders templates, ``expressions`` evaluates their ``derive``/``length``
arithmetic, ``inputs`` writes a sample's input files, ``adapter`` holds the adapter and runs the
program, and ``run_patched.py`` is the ``{run_patched}`` helper it copies (never imported).
The adapter is registered as ``command`` in :data:`a2bench.models.MODELS`.
"""

from a2bench.baselines.command.adapter import Command, CommandError, RefusedError
from a2bench.baselines.command.expressions import Expression, ExpressionError, compile_expression
from a2bench.baselines.command.inputs import INPUTS
from a2bench.baselines.command.template import (
    BATCH_PLACEHOLDERS,
    SAMPLE_PLACEHOLDERS,
    TASK_NUMBERS,
    Template,
    TemplateError,
    load_template,
    placeholders,
    render,
    shipped_templates,
)

__all__ = [
    "BATCH_PLACEHOLDERS",
    "INPUTS",
    "SAMPLE_PLACEHOLDERS",
    "TASK_NUMBERS",
    "Command",
    "CommandError",
    "Expression",
    "ExpressionError",
    "RefusedError",
    "Template",
    "TemplateError",
    "compile_expression",
    "load_template",
    "placeholders",
    "render",
    "shipped_templates",
]
