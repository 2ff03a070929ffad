"""When both systems keep a checkpoint: one rule, imported by the harness and by the JoeyNMT driver.

Standard library only, because the JoeyNMT driver imports it inside ``.venv-peer``.
"""

from __future__ import annotations


class SnapshotPlan:
    """Snapshot ``k`` of ``S`` is the first update at or after ``k/S`` of the budget (training seconds).
    The last one marks the end of the budget.

    JoeyNMT's driver applies the rule with :meth:`take`. The pipeline's trainer applies the same rule
    itself (``train.checkpoint_every_s``, marks every ``budget/S`` seconds) and its harness records the
    updates it chose with :meth:`record`.
    """

    def __init__(self, budget_s: float, snapshots: int):
        if snapshots < 1 or budget_s <= 0:
            raise ValueError(f"need budget_s > 0 and snapshots ≥ 1 (got {budget_s}, {snapshots})")
        self.targets = [budget_s * (k + 1) / snapshots for k in range(snapshots)]
        self.taken: list[dict] = []

    @property
    def finished(self) -> bool:
        return len(self.taken) == len(self.targets)

    def take(self, step: int, elapsed_s: float) -> list[int]:
        """The snapshot numbers (1-based) that update ``step``, reached after ``elapsed_s``, stands for.

        Usually none or one; several when one update spans several targets (very slow updates).
        """
        return self.record(step, elapsed_s, sum(target <= elapsed_s for target in self.targets))

    def record(self, step: int, elapsed_s: float, upto: int) -> list[int]:
        """Snapshots ``len(taken)+1 .. upto`` fall on update ``step`` (the system applied the rule itself;
        several when one update spans several targets). Returns their numbers."""
        ks = []
        while not self.finished and len(self.taken) < upto:
            k = len(self.taken) + 1
            self.taken.append(
                {"k": k, "step": step, "elapsed_s": round(elapsed_s, 3), "target_s": round(self.targets[k - 1], 3)}
            )
            ks.append(k)
        return ks
