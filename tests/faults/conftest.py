"""Fixtures for the fault tests: one corpora cache shared by every `lmkit train` process they start."""
from __future__ import annotations

from pathlib import Path

import pytest
from faults.fault_helpers import ENGLISH


@pytest.fixture(scope="session")
def shared_corpora(tmp_path_factory) -> Path:
    """A corpora root holding english.txt split, its char tokenizer and encoded ids, built once."""
    from lmkit.corpus.catalog import get_corpus
    from lmkit.text.tokenizer_cache import get_tokenizer
    from lmkit.text.id_cache import encoded_split

    root = tmp_path_factory.mktemp("fault-corpora")
    corpus = get_corpus(train=ENGLISH, root=root)
    tokenizer = get_tokenizer(corpus, "char")
    for split in ("train", "valid", "test"):
        encoded_split(corpus, tokenizer, split)
    return root
