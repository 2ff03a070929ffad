"""``pipeline translate``: sentences from stdin or a file → translations on stdout or a file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.commands import resolve_checkpoint
from pipeline.errors import PipelineError


def register(sub) -> None:
    p = sub.add_parser("translate", help="translate sentences (stdin or --input) with a checkpoint")
    p.add_argument("--checkpoint", help="translation checkpoint (default: the --config run's best.pt)")
    p.add_argument("--config", help="config whose run's best checkpoint to use")
    p.add_argument("--preset", help="preset of --config")
    p.add_argument("--ensemble", nargs="+", metavar="PT", help="decode with these checkpoints too, as one ensemble")
    p.add_argument("--input", help="file with one sentence a line (default: stdin)")
    p.add_argument("--output", help="write translations here (default: stdout)")
    p.add_argument("--beam-size", type=int, help="beam size (default: the checkpoint's search.beam_size; 1 = greedy)")
    p.add_argument("--n-best", type=int, default=1, help="print this many hypotheses per sentence, tab-separated")
    p.add_argument("--print-attention", action="store_true", help="print each attention matrix to stderr")
    p.add_argument("--attention-png", help="save attention heatmaps: PATH.png for one sentence, PATH-<n>.png for more")
    p.set_defaults(func=run, overrides=[])


def _read_lines(path: str | None) -> list[str]:
    if path is None:
        return [line.rstrip("\n") for line in sys.stdin]
    file = Path(path)
    if not file.is_file():
        raise PipelineError(f"input file not found: {file}")
    try:
        return file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise PipelineError(f"{file} is not UTF-8 text") from None


def run(args: argparse.Namespace) -> int:
    from pipeline.inference.translator import Translator
    from pipeline.plots import attention_heatmap

    if args.beam_size is not None and args.beam_size < 1:
        raise PipelineError("--beam-size must be at least 1")
    translator = Translator.from_checkpoints([resolve_checkpoint(args), *(args.ensemble or ())])
    lines = _read_lines(args.input)
    want_attention = args.print_attention or bool(args.attention_png)
    beam = max(args.beam_size or translator.search.beam_size, args.n_best)
    results = translator.translate(lines, beam_size=beam, n_best=args.n_best, return_attention=want_attention)
    out = [("\t".join([r.text, *r.alternatives])) for r in results]
    if args.output:
        from pipeline.files import write_text

        write_text(args.output, "".join(line + "\n" for line in out))
    else:
        print("\n".join(out))
    for i, result in enumerate(results):
        if result.attention is None:
            continue
        tgt_labels = [*result.tgt_pieces, "</s>"]
        if args.print_attention:
            print(f"# attention {i}: rows {tgt_labels}, columns {result.src_pieces}", file=sys.stderr)
            for label, row in zip(tgt_labels, result.attention):
                print(f"{label:>16} " + " ".join(f"{x:.2f}" for x in row), file=sys.stderr)
        if args.attention_png:
            base = Path(args.attention_png)
            path = base if len(results) == 1 else base.with_name(f"{base.stem}-{i}{base.suffix or '.png'}")
            attention_heatmap(result.attention, result.src_pieces, tgt_labels, path, title=result.text[:60])
            print(f"attention heatmap: {path}", file=sys.stderr)
    return 0
