"""Order and split the planned sessions by their recorded cost: longest first, balanced CI shards."""

from __future__ import annotations

from harness.plan.sessions import Plan, SessionPlan


def longest_first(plan: Plan) -> list[SessionPlan]:
    return sorted(plan.sessions, key=lambda s: -plan.seconds.get(s.name, 0.0))


def parse_shard(text: str) -> tuple[int, int]:
    """'2/4' → (2, 4): the second of four shards."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected I/N, e.g. 2/4 (the second of four shards)") from None
    if not 1 <= index <= count:
        raise ValueError(f"--shard {text!r}: I must be between 1 and N")
    return index, count


def assign_shards(sessions: list[SessionPlan], seconds: dict[str, float], count: int) -> list[list[SessionPlan]]:
    """Split sessions into `count` shards of similar recorded duration (longest first, into the lightest shard).

    Deterministic: the same sessions and durations give the same shards on every runner.
    A session with no recorded duration is estimated from the recorded cost per demo.
    """
    known = [s for s in sessions if seconds.get(s.name)]
    per_demo = (sum(seconds[s.name] for s in known) / max(1, sum(len(s.demos) for s in known))) if known else 10.0
    cost = {s.name: seconds.get(s.name) or per_demo * max(1, len(s.demos)) for s in sessions}
    shards: list[list[SessionPlan]] = [[] for _ in range(count)]
    totals = [0.0] * count
    for session in sorted(sessions, key=lambda s: (-cost[s.name], s.name)):
        lightest = min(range(count), key=lambda i: (totals[i], i))
        shards[lightest].append(session)
        totals[lightest] += cost[session.name]
    return shards
