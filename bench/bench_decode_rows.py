"""What one llama_decode step costs with 1 vs N one-token rows (the self-consistency sampler's
step), against raw llama-cpp-python one-token evals: is an extra sampled stream nearly free on
this CPU (memory-bound decode) or about as dear as the first (compute-bound)?

Times `ReasoningSampler.reason` (harness/models/llama_reasoning.py) on one short prompt, three
requests of 64 reasoning tokens per stream count, with `llama_decode` wrapped to time the decodes
alone; then raw `Llama.eval` of one token at a time with 1 and 2 threads.

    python bench/bench_decode_rows.py --streams 1 5
"""

from __future__ import annotations

import argparse
import time

from harness.models.local import LocalBackend, default_model_path

PROMPT = (b"<|im_start|>user\nIs the kettle good? Think about it.<|im_end|>\n"
          b"<|im_start|>assistant\nLet's think step by step.")


def sampler_steps(backend: LocalBackend, streams: int, requests: int = 3) -> None:
    sampler = backend.reasoning_sampler(streams)
    lib = sampler._llama_cpp
    real = lib.llama_decode
    acc = {"decode": 0.0, "steps": 0, "rows": 0}

    def timed(ctx, batch):
        start = time.perf_counter()
        status = real(ctx, batch)
        acc["decode"] += time.perf_counter() - start
        acc["steps"] += 1
        acc["rows"] += batch.n_tokens
        return status

    llm = backend.llm
    prefix = llm.tokenize(PROMPT, special=True)
    cue = llm.tokenize(b"\nAnswer:", add_bos=False)
    labels = {"Yes": llm.tokenize(b" Yes", add_bos=False), "No": llm.tokenize(b" No", add_bos=False)}
    lib.llama_decode = timed
    try:
        start = time.perf_counter()
        for rep in range(requests):
            sampler.reason(prefix, samples=streams, max_tokens=64, temperature=0.7,
                           seeds=list(range(rep * 10, rep * 10 + streams)), cue=cue,
                           label_tokens=labels)
        total = time.perf_counter() - start
    finally:
        lib.llama_decode = real
    print(f"sampler, {streams} stream(s): total {total:.2f} s, decode {acc['decode']:.2f} s, "
          f"{acc['steps']} steps, {acc['rows']} rows: {1000 * acc['decode'] / acc['steps']:.2f} "
          f"ms/step, {1000 * acc['decode'] / acc['rows']:.2f} ms/row, "
          f"{1000 * (total - acc['decode']) / acc['rows']:.2f} ms/row outside llama_decode")


def raw_single_token(threads: int) -> None:
    from llama_cpp import Llama

    llm = Llama(str(default_model_path()), n_ctx=1024, n_threads=threads,
                n_threads_batch=threads, verbose=False)
    tokens = llm.tokenize(b"Hello there, this is a test of the speed of one token at a time.")
    llm.eval(tokens[:5])
    start = time.perf_counter()
    for token in tokens[5:] * 3:
        if llm.n_tokens >= 60:
            llm.n_tokens = 5
        llm.eval([token])
    n = len(tokens[5:]) * 3
    print(f"raw Llama.eval, {threads} thread(s): {1000 * (time.perf_counter() - start) / n:.2f} "
          f"ms per one-token eval")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 5])
    args = parser.parse_args()
    backend = LocalBackend(default_model_path())
    try:
        for streams in args.streams:
            sampler_steps(backend, streams)
    finally:
        backend.close()
    for threads in (1, 2):
        raw_single_token(threads)


if __name__ == "__main__":
    main()
