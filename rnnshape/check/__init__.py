"""``rnnshape check``: find the RNN specs in YAML, JSON and TOML config files, validate each
and test its expectations, as result objects (never printed here; see ``rnnshape.render.check``).

``parsers`` reads the text (with line numbers), ``files`` finds the specs in it, ``rules``
checks one spec, ``expect`` its expectations, ``run`` checks them all (``stream`` one at a
time, for printing); ``problems`` holds the rule ids and message helpers they share.
Without ``--run``, nothing here imports torch.
"""

from .files import Entry, find_specs, split_key
from .problems import CheckProblem, Rule, config_list_text
from .report import CheckReport, SpecResult, check_entry, check_files, iter_checked
from .rules import check_spec
from .stream import CheckStream

__all__ = [
    "CheckProblem",
    "CheckReport",
    "CheckStream",
    "Entry",
    "Rule",
    "SpecResult",
    "check_entry",
    "check_files",
    "check_spec",
    "config_list_text",
    "find_specs",
    "iter_checked",
    "split_key",
]
