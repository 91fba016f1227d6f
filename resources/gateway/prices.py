"""What a model call costs: USD per million input and output tokens, per model.

Local models (provider `local`) cost nothing but are still counted. A paid model missing from
the table costs 0 and is marked unpriced, so `pressrag usage` can say the total is incomplete
instead of silently under-reporting. The defaults are OpenAI's list prices; set
`PRESSRAG_PRICES` for other endpoints, negotiated prices or newer models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

LOCAL_PROVIDER = "local"
PER_MILLION = Decimal(1_000_000)

# USD per million tokens (input, output).
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1": (2.00, 8.00),
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
    "text-embedding-ada-002": (0.10, 0.0),
}


@dataclass(frozen=True)
class Price:
    input_per_million: Decimal
    output_per_million: Decimal


@dataclass(frozen=True)
class Cost:
    usd: Decimal
    priced: bool


class PriceTable:
    def __init__(self, overrides: Mapping[str, Mapping[str, float]] | None = None) -> None:
        self._prices = {
            name: Price(Decimal(str(i)), Decimal(str(o))) for name, (i, o) in DEFAULT_PRICES.items()
        }
        for name, entry in (overrides or {}).items():
            self._prices[name] = Price(
                Decimal(str(entry.get("input", 0.0))), Decimal(str(entry.get("output", 0.0)))
            )

    def price(self, provider: str, model: str) -> Price | None:
        """The most specific entry: "provider:model", then the model's bare name."""
        bare = model.split(":")[1] if model.startswith("openai:") else model
        for name in (f"{provider}:{model}", model, bare):
            if name in self._prices:
                return self._prices[name]
        return None

    def cost(self, provider: str, model: str, input_tokens: int, output_tokens: int) -> Cost:
        if provider == LOCAL_PROVIDER:
            return Cost(Decimal(0), True)
        price = self.price(provider, model)
        if price is None:
            return Cost(Decimal(0), False)
        usd = (
            price.input_per_million * input_tokens + price.output_per_million * output_tokens
        ) / PER_MILLION
        return Cost(usd, True)
