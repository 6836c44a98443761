"""Records between the stages of `harness ci`: what changed, which versions it affects, and the
verdicts the summary and JUnit writers turn into text. Plain values only, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass

# VersionChange.status
AFFECTED = "affected"  # existed at base and at head, and something it uses changed
NEW = "new"  # only at head: thresholds only
DELETED = "deleted"  # only at base: listed
UNAFFECTED = "not affected"  # 0 model calls

# VersionVerdict.status
PASS, FAIL, ERROR, REPORTED = "pass", "fail", "error", "reported"  # reported: retired, not gated


@dataclass(frozen=True, slots=True)
class FileChange:
    status: str  # git's letter: A added, M modified, D deleted, R renamed (from old_path)
    path: str  # relative to the project root, "/"-separated
    old_path: str | None = None


@dataclass(frozen=True, slots=True)
class VersionChange:
    task: str
    version: str
    status: str  # AFFECTED | NEW | DELETED | UNAFFECTED
    reason: str  # for people: "v1.jinja changed; v2 extends v1"

    @property
    def id(self) -> str:
        return f"{self.task}/{self.version}"


@dataclass(frozen=True, slots=True)
class ChangeSet:
    base: str  # the base commit (full sha)
    changes: tuple[FileChange, ...]
    versions: tuple[VersionChange, ...]  # every version at base or head, by task then number

    def with_status(self, status: str) -> tuple[VersionChange, ...]:
        return tuple(v for v in self.versions if v.status == status)

    @property
    def affected(self) -> tuple[VersionChange, ...]:
        return self.with_status(AFFECTED)

    @property
    def evaluated(self) -> tuple[VersionChange, ...]:
        """What `harness ci` evaluates (affected: base vs head; new: thresholds only) and
        `pytest --changed-since` selects: one definition, so the two cannot drift apart."""
        return tuple(v for v in self.versions if v.status in (AFFECTED, NEW))

    @property
    def new(self) -> tuple[VersionChange, ...]:
        return self.with_status(NEW)

    @property
    def deleted(self) -> tuple[VersionChange, ...]:
        return self.with_status(DELETED)

    @property
    def unaffected(self) -> tuple[VersionChange, ...]:
        return self.with_status(UNAFFECTED)


@dataclass(frozen=True, slots=True)
class CheckLine:
    """One gate check. kind "paired": head vs base on the same examples (value = head,
    before = base, delta = value - before with its CI low..high, pvalue of `test`, tolerance =
    the drop allowed); kind "threshold": value against the absolute floor `threshold`."""

    name: str  # "macro_f1", "recall[Objective]"
    kind: str  # "paired" | "threshold"
    passed: bool
    value: float | None = None
    before: float | None = None
    threshold: float | None = None
    tolerance: float | None = None
    delta: float | None = None
    low: float | None = None
    high: float | None = None
    pvalue: float | None = None
    test: str = ""  # "McNemar exact", "paired bootstrap"
    gated: bool = True  # False: shown, never fails (retired version, informational metric)
    detail: str = ""  # the failure message, or a short note


@dataclass(frozen=True, slots=True)
class FlipLine:
    """An example whose correctness changed between base and head."""

    example_id: str
    text: str  # dataset text: data, escaped by every writer
    expected: str
    before: str | None  # base prediction (None: the call errored)
    after: str | None
    fixed: bool  # True: wrong at base, right at head; False: broken
    confidence_before: float | None = None
    confidence_after: float | None = None


@dataclass(frozen=True, slots=True)
class CriticalLine:
    example_id: str
    passed: bool
    expected: str
    predicted: str | None
    text: str = ""
    confidence: float | None = None
    before: str | None = None  # base prediction, when the base was evaluated
    known_failure: bool = False  # failed at base too: reported, not a new failure
    detail: str = ""


@dataclass(frozen=True, slots=True)
class VersionVerdict:
    task: str
    version: str
    status: str  # PASS | FAIL | ERROR | REPORTED
    change: str = AFFECTED  # AFFECTED (base vs head) or NEW (thresholds only)
    why: str = ""  # why it was evaluated: VersionChange.reason
    reasons: tuple[str, ...] = ()  # why it failed / errored, one line each
    checks: tuple[CheckLine, ...] = ()
    flips: tuple[FlipLine, ...] = ()
    notes: tuple[str, ...] = ()  # power notes and other remarks, one line each
    critical: tuple[CriticalLine, ...] = ()
    examples: int = 0
    model_calls: int = 0
    duration_s: float = 0.0

    @property
    def id(self) -> str:
        return f"{self.task}/{self.version}"


@dataclass(frozen=True, slots=True)
class CiReport:
    """Everything one `harness ci` run says."""

    base: str  # base commit sha
    base_label: str  # "merge-base of HEAD and origin/main"
    head: str | None  # head commit sha (None: no commit yet)
    verdicts: tuple[VersionVerdict, ...]
    unaffected: tuple[VersionChange, ...] = ()
    deleted: tuple[VersionChange, ...] = ()
    model: str = ""
    mode: str = ""
    split: str = ""
    limit: int | None = None
    dirty: bool = False  # the working tree had uncommitted changes
    errors: tuple[str, ...] = ()  # infrastructure problems not tied to one version

    @property
    def status(self) -> str:
        """FAIL if any gated version failed, else ERROR if anything errored, else PASS."""
        statuses = {v.status for v in self.verdicts}
        if FAIL in statuses:
            return FAIL
        return ERROR if ERROR in statuses or self.errors else PASS
