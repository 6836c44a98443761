"""`python -m harness.models.llama_server --model <gguf> [llama_cpp.server options]`

The plain recipe for an OpenAI-compatible server on a GGUF is `python -m llama_cpp.server --model
<gguf>` (extra `llama-cpp-python[server]`). This launcher is the same server with one change: the
model is built without llama.cpp's extra weight buffer types, the workaround for CPUs where
they make every multi-token decode segfault (see local._plain_cpu_buffers). Use it where the plain
recipe crashes; `--model` defaults to the embedded SmolLM2 GGUF.
"""

from __future__ import annotations

import sys

from harness.models.local import _plain_cpu_buffers, default_model_path


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--model" not in args and not any(a.startswith("--model=") for a in args):
        args = ["--model", str(default_model_path()), *args]
    try:
        from llama_cpp.server.__main__ import main as server_main
    except ImportError as exc:
        raise SystemExit("the server needs llama-cpp-python's server extra: "
                         "pip install 'llama-cpp-python[server]'") from exc
    sys.argv = ["llama_cpp.server", *args]
    # The server builds its Llama object inside main(): keep the workaround on for its lifetime.
    with _plain_cpu_buffers():
        server_main()


if __name__ == "__main__":
    main()
