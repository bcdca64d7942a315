"""JSON documents: indented for a reader, compact past a size only a program reads."""

from __future__ import annotations

import json

import pytest

from rnnshape.render import formats
from rnnshape.render.formats import json_text


def test_a_small_document_is_indented() -> None:
    text = json_text({"a": [1, 2], "b": "é"})
    assert text == json.dumps({"a": [1, 2], "b": "é"}, indent=2) + "\n"
    assert text.isascii()


def test_a_large_document_is_compact_and_the_same_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "COMPACT_JSON_CHARS", 100)
    document = {"modules": [{"name": f"rnn{i}", "shape": [i, 4]} for i in range(50)]}
    text = json_text(document)
    assert text.count("\n") == 1 and text.endswith("\n") and text.isascii()
    assert json.loads(text) == document
