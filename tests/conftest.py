"""Shared fixtures: the corpus of real exports, built once per session.

``corpus``        ``name -> CorpusEntry`` (see ``tests/corpus.py``), saved in a
                  session temporary folder; exportdb examples that fail to
                  export are in ``corpus.failures``.
``corpus_entry``  one entry; a test that asks for it runs once per corpus
                  name (``corpus_name``) and is skipped, with the reason, for
                  exportdb examples this torch cannot export.
"""

from __future__ import annotations

import pytest
from corpus import Corpus, CorpusEntry, build_corpus, corpus_names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "corpus_entry" in metafunc.fixturenames:
        metafunc.parametrize("corpus_name", corpus_names())


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return build_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture
def corpus_entry(corpus: Corpus, corpus_name: str) -> CorpusEntry:
    if corpus_name not in corpus:
        pytest.skip(f"{corpus_name} does not export with this torch: {corpus.failures.get(corpus_name, '?')}")
    return corpus[corpus_name]
