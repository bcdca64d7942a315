"""``python -m rnnshape`` is the console script, and imports only what the console script does.

``-m`` puts the working folder first on ``sys.path``: a ``yaml.py``, ``onnx.py`` or
``picklescan.py`` lying there would be imported, and run, in place of the installed library
(a checkpoint's folder is a stranger's). The console script never looks there, so the entry
``-m`` added goes before anything else is imported. (``python -P``/``PYTHONSAFEPATH`` adds no
such entry, and then nothing is removed.)
"""

import os
import sys


def _drop_working_folder() -> None:
    if sys.flags.safe_path or not sys.path:
        return
    try:
        here = os.getcwd()
    except OSError:  # the working folder was deleted: -m added its name all the same
        here = None
    if sys.path[0] in ("", here):
        del sys.path[0]


_drop_working_folder()

from rnnshape.cli import main  # noqa: E402 - after the working folder left sys.path

sys.exit(main())
