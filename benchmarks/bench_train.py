"""SAE training and encoding throughput on this machine (CPU, and CUDA when present).

Training: activations/s of the real training step (``tokrex.sae.train.Trainer._step``: forward,
nested Matryoshka losses, AuxK, backward, decoder projection, Adam) for d_in=768, 16,384 latents,
batch 4,096, BatchTopK k=32, with random prefixes (8 per step), fixed groups and vanilla.
Encoding: ``Sae.encode`` throughput (BatchTopK with its inference threshold, and TopK) as a
fraction of the device's measured throughput for the plain matmul of the same shapes,
[4096, 768] @ [768, 16384].

    python benchmarks/bench_train.py [--device cuda] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timeit(fn, device, *, min_time: float, max_iter: int) -> float:
    """Seconds per call: one warmup call, then repeat until ``min_time`` or ``max_iter``."""
    fn()
    _sync(device)
    n, t0 = 0, time.perf_counter()
    while n < max_iter and (n == 0 or time.perf_counter() - t0 < min_time):
        fn()
        n += 1
    _sync(device)
    return (time.perf_counter() - t0) / n


def _trainer(d, n, batch, k, device, objective, groups=None):
    import torch

    from tokrex.sae.config import TrainConfig
    from tokrex.sae.init import init_sae
    from tokrex.sae.meta import SaeMeta
    from tokrex.sae.model import SaeArch
    from tokrex.sae.objectives import report_prefixes
    from tokrex.sae.train import Trainer

    cfg = TrainConfig(model="bench", layer=0, latents=n, k=k, batch_size=batch, tokens=batch * 1000, objective=objective,
                      groups=groups, device=str(device), dead_tokens=batch * 2)
    arch = SaeArch(d_in=d, n_latents=n, activation="batchtopk", k=k,
                   groups=report_prefixes(n, cfg.groups, cfg.prefix_mode, cfg.min_prefix))
    sae = init_sae(arch, torch.randn(1024, d), torch.Generator().manual_seed(0), device=device)
    return Trainer(cfg, sae, None, meta=SaeMeta(), out=None, progress=None, info={})


def bench_training(d, n, batch, k, device, *, min_time, max_iter) -> None:
    import torch

    x = torch.randn(batch, d, device=device)
    for label, objective, groups in (("matryoshka, 8 random prefixes", "matryoshka", None),
                                     ("matryoshka, 4 fixed groups", "matryoshka", [n // 64, n // 16, n // 4]),
                                     ("vanilla", "vanilla", None)):
        trainer = _trainer(d, n, batch, k, device, objective, groups)
        trainer.since_fired.fill_(batch * 10)  # every latent dead: AuxK runs at full cost
        sec = _timeit(lambda: trainer._step(x), device, min_time=min_time, max_iter=max_iter)
        print(f"  train step, BatchTopK k={k}, {label}: {sec * 1e3:9.1f} ms/step  {batch / sec:12,.0f} activations/s")


def bench_encode(d, n, batch, k, device, *, min_time, max_iter) -> None:
    import torch

    from tokrex.sae.model import Sae, SaeArch

    for dtype in ([torch.float32, torch.bfloat16] if device.type == "cuda" else [torch.float32]):
        x = torch.randn(batch, d, device=device, dtype=dtype)
        w = torch.randn(d, n, device=device, dtype=dtype) / d**0.5
        flops = 2 * batch * d * n
        mm = _timeit(lambda: x @ w, device, min_time=min_time, max_iter=max_iter)
        print(f"  matmul [{batch},{d}]@[{d},{n}] {str(dtype)[6:]}: {mm * 1e3:8.2f} ms  {flops / mm / 1e12:8.2f} TFLOP/s")
        for activation in ("batchtopk", "topk"):
            sae = Sae(SaeArch(d_in=d, n_latents=n, activation=activation, k=k), dtype=dtype, device=device)
            with torch.no_grad():
                sae.W_enc.copy_(w)
                sae.threshold.fill_(1.0)
            with torch.inference_mode():
                enc = _timeit(lambda: sae.encode(x), device, min_time=min_time, max_iter=max_iter)
            print(f"  encode {activation:9s} {str(dtype)[6:]}: {enc * 1e3:8.2f} ms  {batch / enc:14,.0f} tokens/s  "
                  f"{mm / enc:6.1%} of matmul throughput")


def main(quick: bool = False, device: str | None = None) -> None:
    import torch

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        print(f"device: CUDA, {torch.cuda.get_device_name(dev)}")
    else:
        print(f"device: CPU, {torch.get_num_threads()} torch threads")
    if quick:
        d, n, batch, k = 128, 2048, 1024, 16
    else:
        d, n, batch, k = 768, 16384, 4096, 32
    slow = dev.type == "cpu" and not quick
    timing = dict(min_time=2.0 if slow else 1.0, max_iter=3 if slow else 50)
    print(f"d_in={d}, latents={n}, batch={batch}, k={k}")
    bench_training(d, n, batch, k, dev, **timing)
    bench_encode(d, n, batch, k, dev, **timing)


if __name__ == "__main__":
    from machine import describe

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    ap.add_argument("--quick", action="store_true", help="small shapes, for a smoke run")
    args = ap.parse_args()
    print(describe())
    main(quick=args.quick, device=args.device)
