"""The chat model behind the write-back generators (summaries, prose drafts).

Both make one metered chat completion per item and turn the SDK's failures into their own
error type, with the exception's class and HTTP status only: what the server echoed back
may quote the key.
"""

from __future__ import annotations

from dataclasses import dataclass

from pressrag.resources.errors import PressRAGError
from pressrag.resources.usage import UsageRecorder, metered


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int


class ChatModelWriter:
    generator = "openai"
    purpose = "chat"  # the ledger's purpose of each call
    what = "chat-model writer"  # for the configuration error
    error: type[PressRAGError] = PressRAGError
    min_timeout = 60.0  # long generations must not time out at the answerer's timeout

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        recorder: UsageRecorder,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 4,
    ) -> None:
        import openai

        self._openai = openai
        self._client = openai.OpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )
        self.model = model
        self.recorder = recorder

    def complete(
        self, site_id: str, messages: list[dict[str, str]], *, max_tokens: int, temperature: float
    ) -> Completion:
        """One chat completion, recorded in the usage ledger; `error` when the model fails."""
        with metered(
            self.recorder,
            site_id=site_id,
            purpose=self.purpose,
            provider="openai",
            model=self.model,
        ) as meter:
            try:
                response = self._client.chat.completions.create(
                    model=self.model,
                    messages=messages,  # type: ignore[arg-type]
                    max_tokens=max_tokens,
                    temperature=temperature,
                )
            except self._openai.APIError as exc:
                raise self.error(_api_failure(exc)) from None
            if response.usage:
                meter.input_tokens = response.usage.prompt_tokens
                meter.output_tokens = response.usage.completion_tokens
        text = (response.choices[0].message.content or "") if response.choices else ""
        return Completion(text, meter.input_tokens, meter.output_tokens)


def _api_failure(exc: Exception) -> str:
    """What went wrong, without anything the server echoed back (it may quote the key)."""
    status = getattr(exc, "status_code", None)
    detail = f"{type(exc).__name__}, HTTP {status}" if status else type(exc).__name__
    return f"the chat model failed ({detail})"
