"""``pipeline attack IMAGE --target CLASS``: fool one of the project's classifiers on one image and draw
the lecture's picture (original + magnified ΔI = adversarial)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.errors import PipelineError


def register(subparsers) -> None:
    p = subparsers.add_parser("attack", help="targeted/untargeted adversarial example for one image, as a PNG")
    p.add_argument("image", help="an image file, or test:N for the N-th test image of the classifier's dataset")
    p.add_argument("--checkpoint", required=True, help="a classifier checkpoint (task: classifier)")
    p.add_argument(
        "--target",
        nargs="+",
        help="target class name(s) or index(es); one figure row each. Omit for an untargeted attack",
    )
    p.add_argument("--method", choices=["szegedy", "fgsm", "pgd"], default="szegedy")
    p.add_argument("--epsilon", type=float, default=8 / 255, help="L∞ budget of fgsm/pgd (pixel box [0, 1])")
    p.add_argument("--search-steps", type=int, default=6, help="(szegedy) λ bisection rounds")
    p.add_argument("--steps", type=int, default=100, help="(szegedy) optimizer steps per λ")
    p.add_argument("--out", default="data/figures/attack.png", help="PNG to write")
    p.set_defaults(func=run)

    p = subparsers.add_parser("attack-table", help="success rate and distortion against ε for chosen attacks")
    p.add_argument("--checkpoint", required=True, help="a classifier checkpoint (task: classifier)")
    p.add_argument(
        "--attack",
        nargs="+",
        default=["fgsm"],
        choices=["fgsm", "pgd_linf", "pgd_l2", "torchattacks_fgsm", "torchattacks_pgd_linf", "torchattacks_pgd_l2"],
        help="torchattacks_* run the peer library on the same model and images (parity check)",
    )
    p.add_argument("--epsilon", type=float, nargs="+", required=True, help="ε values (pixel box [0, 1])")
    p.add_argument("--steps", type=int, default=40, help="PGD iterations (step size 2.5·ε/steps)")
    p.add_argument("--limit", type=int, help="attack a seeded random N of the test images (default: all)")
    p.set_defaults(func=run_table)


def _class_index(name: str, classes: tuple[str, ...]) -> int:
    if name in classes:
        return classes.index(name)
    if name.isdigit() and int(name) < len(classes):
        return int(name)
    raise PipelineError(
        f"unknown class {name!r}; this classifier knows: {', '.join(classes)} (or 0..{len(classes) - 1})"
    )


def load_input(spec: str, classifier):
    """``test:N`` or an image file → (C, H, W) in [0, 1], resized to the classifier's input, and its label."""
    import numpy as np

    from pipeline.data.image_tensors import to_tensor
    from pipeline.data.images import load_rgb

    shape = classifier.image_shape
    if spec.startswith("test:"):
        index = int(spec.split(":", 1)[1])
        images, labels = classifier.test_images()
        if not 0 <= index < len(images):
            raise PipelineError(f"test index {index} out of range 0..{len(images) - 1}")
        return images[index], int(labels[index])
    image = load_rgb(Path(spec)).resize((shape[2], shape[1]))
    array = np.asarray(image.convert("L") if shape[0] == 1 else image, dtype=np.uint8)
    return to_tensor(array[None])[0], None


def _adversarial(model, image, source, target, args: argparse.Namespace):
    """One adversarial version of ``image`` (C, H, W) by ``args.method``; ``target`` None is untargeted."""
    from pipeline.adversarial.attacks import fgsm, pgd
    from pipeline.adversarial.szegedy import szegedy_attack

    if args.method == "szegedy":
        if target is None:
            raise PipelineError("the Szegedy attack is targeted: give --target CLASS")
        return szegedy_attack(model, image[None], target, args.search_steps, args.steps).adversarial[0]
    if args.method == "fgsm":
        return fgsm(model, image[None], source, args.epsilon, target=target)[0]
    return pgd(model, image[None], source, args.epsilon, 2.5 * args.epsilon / 40, 40, target=target)[0]


def run(args: argparse.Namespace) -> int:
    import torch

    from pipeline.adversarial.classifiers import Classifier
    from pipeline.adversarial.figures import AttackPanel, classifier_verdict, fooling_figure
    from pipeline.device import resolve_runtime

    resolve_runtime("cpu")  # sets torch threads from $PIPELINE_THREADS
    classifier = Classifier.from_checkpoint(args.checkpoint)
    model, classes = classifier.model, classifier.classes
    image, label = load_input(args.image, classifier)
    with torch.no_grad():
        predicted = int(model(image[None]).argmax(1))
    source = torch.tensor([label if label is not None else predicted])
    targets = [_class_index(t, classes) for t in args.target] if args.target else [None]
    panels = []
    for target in targets:
        adv = _adversarial(model, image, source, None if target is None else torch.tensor([target]), args)
        name = "untargeted" if target is None else f"target {classes[target]}"
        panels.append(AttackPanel(adv, f"{name} ({args.method})"))
    out = fooling_figure(classifier_verdict(model, classes), image, panels, args.out)
    print(f"wrote {out}")
    return 0


def run_table(args: argparse.Namespace) -> int:
    from pipeline.adversarial.classifiers import Classifier
    from pipeline.adversarial.evaluation import attack_table
    from pipeline.device import resolve_runtime
    from pipeline.progress import table

    resolve_runtime("cpu")
    classifier = Classifier.from_checkpoint(args.checkpoint)
    images, labels = classifier.test_images(args.limit)  # seeded random test images (CIFAR-10 is stored by class)
    rows = attack_table(
        classifier.model, images, labels, {name: list(args.epsilon) for name in args.attack}, args.steps
    )
    print(
        table(
            [
                [r.attack, r.epsilon, r.n, r.clean_accuracy, r.adversarial_accuracy, r.error_rate, r.mean_l2]
                for r in rows
            ],
            ["attack", "eps", "n", "clean acc", "adv acc", "error", "mean L2"],
        )
    )
    return 0
