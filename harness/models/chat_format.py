"""How chat messages become the text a local GGUF model reads.

- `gguf`: the model's own `tokenizer.chat_template`, rendered with its real BOS/EOS token texts.
- `plain`: for a GGUF without a chat template (a base model), a plain completion format, never
  another model's chat markers written as text:

      <BOS>{system}\\n\\n{user}\\n\\nAnswer:

  and a label is scored (or generated) after a space: `Answer: Objective`. Generation stops at a
  blank line, where a base model starts the next document.

Either way the model's BOS token leads the prompt when its tokenizer adds one
(`tokenizer.ggml.add_bos_token`, as llama.cpp decides), and never twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PLAIN_TEMPLATE = ("{% for message in messages %}"
                  "{% if message['role'] == 'assistant' %}Answer: {% endif %}"
                  "{{ message['content'] }}\n\n{% endfor %}"
                  "{% if add_generation_prompt %}Answer:{% endif %}")
PLAIN_SHAPE = "messages separated by blank lines, then 'Answer:'"
# End-of-turn markers of common chat templates: generation also stops on the text, in case a
# model spells the marker out instead of emitting its special token.
_TURN_ENDS = ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|end|>")


@dataclass(frozen=True, slots=True)
class ChatFormat:
    kind: str  # "gguf" or "plain"
    template: str  # Jinja source, rendered with messages, add_generation_prompt, bos/eos_token
    bos_token: str  # the BOS token's text, for templates that write it ('' when it has none)
    eos_token: str
    adds_bos: bool  # the tokenizer wants BOS first: prepended unless the template wrote it
    stop: tuple[str, ...]
    answer_prefix: str  # text between the opened answer and a label

    @property
    def key(self) -> str:
        """'' for the format every earlier release used (the GGUF template, no BOS token passed
        or added), so those cache entries stay valid; otherwise a name for cache keys."""
        if self.kind == "plain":
            return "plain-v1"
        writes_special = (("bos_token" in self.template and self.bos_token)
                          or ("eos_token" in self.template and self.eos_token))
        return "gguf-bos" if self.adds_bos or writes_special else ""

    def describe(self) -> str:
        bos = "BOS first" if self.adds_bos else "no BOS (the tokenizer adds none)"
        if self.kind == "gguf":
            return f"the GGUF's chat template (tokenizer.chat_template); {bos}"
        return f"plain completion (no chat template in the GGUF): {PLAIN_SHAPE}; {bos}"


def chat_format(metadata: Mapping[str, str], *, bos_token: str, eos_token: str,
                adds_bos: bool) -> ChatFormat:
    template = metadata.get("tokenizer.chat_template") or ""
    if template.strip():
        return ChatFormat("gguf", template, bos_token, eos_token, adds_bos,
                          tuple(marker for marker in _TURN_ENDS if marker in template), "")
    return ChatFormat("plain", PLAIN_TEMPLATE, bos_token, eos_token, adds_bos, ("\n\n",), " ")
