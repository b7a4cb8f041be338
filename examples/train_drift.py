"""Train a small language model on a corpus's training periods with curate's loader, then
measure its loss on every period and add that temporal degradation curve to the drift report.

    python examples/train_drift.py out/demo --report out/demo-drift [--steps 300]

Runs on the CPU in a few minutes on the demo corpus; on a GPU unchanged (``--device cuda``).
The model is deliberately tiny (an embedding, one GRU layer, an output layer): the point is
the shape of the curve, loss rising with the distance from the training periods.
"""

from __future__ import annotations

import argparse
import json
import os

import torch

from curate.drift.plots import render
from curate.loader import CorpusDataset, CorpusLoader, to_device


class TinyLM(torch.nn.Module):
    def __init__(self, vocab: int, dim: int = 128):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, dim)
        self.rnn = torch.nn.GRU(dim, dim, batch_first=True)
        self.out = torch.nn.Linear(dim, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(self.rnn(self.embed(ids))[0])


def loss_of(model, batch) -> torch.Tensor:
    logits = model(batch["input_ids"])
    return torch.nn.functional.cross_entropy(
        logits.flatten(0, 1), batch["labels"].flatten().long(), ignore_index=-100
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--report", required=True, help="a `curate drift` report directory")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--eval-batches", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.manual_seed(0)
    with open(os.path.join(args.report, "drift.json")) as f:
        report = json.load(f)
    train = CorpusDataset(args.corpus, split="train", seq_len=args.seq_len, seed=0)
    model = TinyLM(train.corpus.vocab_size).to(args.device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    step = 0
    while step < args.steps:  # epochs until the step budget is spent
        for batch in to_device(CorpusLoader(train, batch_size=16), args.device):
            loss = loss_of(model, batch)
            loss.backward()
            opt.step()
            opt.zero_grad()
            step += 1
            if step >= args.steps:
                break
    model.eval()
    curve = []
    with torch.no_grad():
        for period in report["periods"]:
            ds = CorpusDataset(
                args.corpus, split=None, periods=[period], seq_len=args.seq_len, seed=1
            )
            losses = [
                loss_of(model, b).item()
                for _, b in zip(
                    range(args.eval_batches),
                    to_device(CorpusLoader(ds, batch_size=16), args.device),
                    strict=False,
                )
            ]
            curve.append({"period": period, "loss": sum(losses) / len(losses)})
            print(f"{period}: loss {curve[-1]['loss']:.3f}")
    report["model_loss"] = {
        "model": f"embedding + GRU + linear, {args.steps} steps of 16 x {args.seq_len} tokens",
        "periods": curve,
    }
    with open(os.path.join(args.report, "drift.json"), "w") as f:
        json.dump(report, f, indent=1)
    render(report, args.report)  # adds model_loss.png to index.html
    print(f"curve added to {args.report}/index.html")


if __name__ == "__main__":
    main()
