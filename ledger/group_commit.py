"""Group commit: commands that arrive together are saved in one transaction (one lock
of the store, one commit, one flush to disk), each still atomic, idempotent and refused
on its own.

Each command is decided in its caller's thread, as before, noting what it read and at
which versions (``Decided``); a decision refused by a rule is raised there and never
queued. Then it queues. The first caller to find nobody leading becomes the leader: it
takes what is queued (its own command first, at most ``GROUP_COMMANDS_MAX``), reads in
one query the stored versions of everything the group's decisions read, and takes each
decision in turn. One that read what is still stored, and nothing an earlier decision of
the group changed, joins as it is; any other is decided again by the leader, in its
command's own context (its idempotency key, its actor), against the group's latest state
(``Group``): two allocations to one invoice in one group are decided one after the
other, as they would be in a transaction apiece, and one refused then is refused alone.
The group is saved together, each command with its own mark and its own position.

When the store refuses the group's save (another process changed one of its aggregates
first, or a retried command's id exists), nothing of it was saved, and each command goes
back to its caller to be saved on its own, as every command was before, with its own
retries. So does a command whose decision, made again, carries a guard (a write-off
charged to its actor's day), replays an earlier one, or needs the stored history of an
aggregate the group changed (``RunAlone``). Then the leader hands the lead to the first
command still queued, or stops leading when there is none: under load a group forms
while the one before it saves, and a command that finds nobody saving is saved alone,
at once."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import Context, ContextVar, copy_context
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

# The most commands one group saves: one transaction's worth, which keeps the wait of the
# last command of a group and the size of the save bounded.
GROUP_COMMANDS_MAX = 64


@dataclass(frozen=True)
class GroupMark:
    """One command of a group's save, for the store's recorder: the context it ran in
    (its idempotency key is there), how many of the save's events are its own (they are
    stored in the group's order, one command's after another's), and the aggregate it
    replies with, as saved (id and version), when it replies with one."""

    context: Context
    events: int
    reply: tuple[UUID, int] | None


# The commands of the group whose save is running, in order: set around the save.
grouped: ContextVar[Sequence[GroupMark] | None] = ContextVar("arledger_grouped", default=None)


class RunAlone(Exception):
    """Raised by a read that a decision in a group cannot make (the stored history of an
    aggregate the group changed): the command is decided again on its own."""


@dataclass(frozen=True)
class Decided:
    """A decision and what it read to make it: each aggregate, at the version read."""

    decision: Any
    reads: Mapping[UUID, int]

    def changes(self) -> set[UUID]:
        """The aggregates the decision changed."""
        return {
            obj.id if isinstance(obj, Aggregate) else obj.originator_id
            for obj in self.decision.aggregates
        }

    def expected(self) -> dict[UUID, int]:
        """What it read and did not change (what it changed, the store's key checks)."""
        changes = self.changes()
        return {a: v for a, v in self.reads.items() if a not in changes}


@dataclass(eq=False)
class _Queued:
    decide: Callable[[], Any]  # returns a ``Decision``
    decided: Decided  # as decided in the caller's thread, from what the store held then
    context: Context
    alone: Callable[[Callable[[], Any], Decided | None], Any] | None  # its own way alone
    wake: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    answered: bool = False
    saved: Any = None
    error: BaseException | None = None
    on_its_own: bool = False  # to be saved by its caller, on its own

    def answer(self, saved: Any = None, error: BaseException | None = None) -> None:
        self.saved, self.error, self.answered = saved, error, True

    def send_back(self) -> None:
        """Let the caller's thread save the command on its own (with its own retries,
        beside the others sent back), rather than the leader one after another."""
        self.on_its_own = self.answered = True


class Group:
    """A group being saved: its events in order, the aggregates its decisions changed
    (by id, as changed), what they read (by id, at the version read) and each command's
    mark."""

    def __init__(self) -> None:
        self.changed: dict[UUID, Aggregate] = {}
        self.reads: dict[UUID, int] = {}
        self.processing: ProcessingEvent[UUID] = ProcessingEvent()
        self.marks: list[GroupMark] = []
        self.decided: list[tuple[_Queued, Any]] = []

    def fits(self, decided: Decided, stored: Mapping[UUID, int]) -> bool:
        """Whether a decision made apart can join as it is: what it read is still what
        is stored, and the group's earlier commands changed none of it."""
        if not self.changed.keys().isdisjoint(decided.changes() | decided.reads.keys()):
            return False
        return all(stored.get(a) == v for a, v in decided.reads.items())

    def take(self, queued: _Queued, decided: Decided) -> None:
        """Keep a decision's events, in its order, its aggregates as it left them, and
        what it read."""
        decision = decided.decision
        before = len(self.processing.events)
        for obj in decision.aggregates:
            collect(self.processing, obj)
            if isinstance(obj, Aggregate):
                self.changed[obj.id] = obj
        for aggregate_id, version in decided.expected().items():
            if aggregate_id not in self.changed:
                self.reads.setdefault(aggregate_id, version)
        reply = decision.reply
        replying = (reply.id, reply.version) if isinstance(reply, Aggregate) else None
        self.marks.append(GroupMark(queued.context, len(self.processing.events) - before, replying))
        self.decided.append((queued, decision))

    def expected(self) -> dict[UUID, int]:
        """What the group read and did not change, at the versions read."""
        return {a: v for a, v in self.reads.items() if a not in self.changed}


class GroupCommit:
    """The queue, the lead and the group's save, for one unit of work.

    ``decide(fn)`` decides a command, noting what it reads; ``stored(ids)`` reads the
    aggregates' stored versions; ``alone(fn, decided)``
    saves a command on its own (the unit of work's own cycle, with its retries, starting
    from ``decided`` when given); ``save(processing, expected)`` saves a group's events
    if what it read is still current and returns their positions; ``answer(decision,
    position)`` makes a command's reply; ``forget(ids)`` drops aggregates from the
    cache after a refused save."""

    def __init__(
        self,
        decide: Callable[[Callable[[], Any]], Decided],
        stored: Callable[[list[UUID]], Mapping[UUID, int]],
        alone: Callable[[Callable[[], Any], Decided | None], Any],
        save: Callable[[ProcessingEvent[UUID], Mapping[UUID, int]], list[int]],
        answer: Callable[[Any, int], Any],
        forget: Callable[[Sequence[UUID]], None],
    ) -> None:
        self._decide, self._stored, self._alone, self._save = decide, stored, alone, save
        self._answer, self._forget = answer, forget
        self._lock = threading.Lock()
        self._queue: deque[_Queued] = deque()
        self._leading = False
        self._local = threading.local()
        self.groups = 0  # groups saved together (two commands or more): for tests

    def current(self) -> Group | None:
        """The group this thread is deciding, if any."""
        group: Group | None = getattr(self._local, "group", None)
        return group

    def leading_here(self) -> bool:
        """Whether this thread leads a group (a command it runs is saved on its own)."""
        return bool(getattr(self._local, "leading", False))

    def run(
        self,
        decide: Callable[[], Any],
        decided: Decided,
        alone: Callable[[Callable[[], Any], Decided | None], Any] | None = None,
    ) -> Any:
        """Save a command decided in this thread (``decided``) with the others that
        arrive meanwhile; ``decide`` decides it again when it cannot join as it is;
        ``alone`` saves it on its own, instead of the unit of work's cycle."""
        queued = None
        with self._lock:
            if self._leading:
                queued = _Queued(decide, decided, copy_context(), alone)
                self._queue.append(queued)
            else:  # nobody saving, so nobody queued: this command leads, on its own
                self._leading = True
        if queued is None:
            return self._lead_alone(decide, decided, alone)
        while not queued.answered:
            if queued.lead:
                self._lead()
            else:
                queued.wake.wait()
                queued.wake.clear()
        if queued.on_its_own:
            return (queued.alone or self._alone)(decide, None)
        if queued.error is not None:
            raise queued.error
        return queued.saved

    def _lead_alone(
        self,
        decide: Callable[[], Any],
        decided: Decided,
        alone: Callable[[Callable[[], Any], Decided | None], Any] | None,
    ) -> Any:
        """Save a command that found nobody saving as a group of one would be (on its
        own, in a copy of its context), without the queue; then hand the lead to the
        first command that queued meanwhile."""
        self._local.leading = True
        try:
            return copy_context().run(alone or self._alone, decide, decided)
        finally:
            self._local.leading = False
            self._pass_lead()

    def _pass_lead(self) -> None:
        """Wake the first command queued to lead, or stop leading when there is none."""
        with self._lock:
            if self._queue:
                self._queue[0].lead = True
                self._queue[0].wake.set()
            else:
                self._leading = False

    def _lead(self) -> None:
        with self._lock:
            taking = min(len(self._queue), GROUP_COMMANDS_MAX)
            batch = [self._queue.popleft() for _ in range(taking)]
        self._local.leading = True
        try:
            self._commit(batch)
        finally:
            self._local.leading = False
            self._pass_lead()
            for queued in batch:
                queued.lead = False
                if not queued.answered:  # a bug above: never leave a caller waiting
                    queued.answer(error=RuntimeError("the group's save ended without an answer"))
                queued.wake.set()

    def _commit(self, batch: list[_Queued]) -> None:
        if len(batch) == 1:  # alone, exactly as a command always ran
            self._run_alone(batch[0], batch[0].decided)
            return
        group, later = Group(), []
        # One read of what is stored now: a command decided on what another's save has
        # changed since is decided again here, rather than failing the group's save.
        try:
            stored = self._stored(list({a for q in batch for a in q.decided.reads}))
        except Exception as error:  # noqa: BLE001 - the store failed: so does every command
            for queued in batch:
                queued.answer(error=error)
            return
        self._local.group = group
        try:
            for queued in batch:
                decided = queued.decided
                if not group.fits(decided, stored):
                    # What it read that another writer changed since: from the store.
                    self._forget([a for a, v in decided.reads.items() if stored.get(a) != v])
                    try:  # decided again, after the group's earlier commands
                        decided = queued.context.run(self._decide, queued.decide)
                    except RunAlone:
                        later.append(queued)
                        continue
                    except Exception as error:  # noqa: BLE001 - refused alone: its caller raises it
                        queued.answer(error=error)
                        continue
                    if decided.decision.replayed or decided.decision.guard is not None:
                        later.append(queued)
                        continue
                group.take(queued, decided)
        finally:
            self._local.group = None
        self._save_group(group)
        for queued in later:
            queued.send_back()

    def _save_group(self, group: Group) -> None:
        if not group.decided:
            return
        try:
            with _grouping(group.marks):
                positions = self._save(group.processing, group.expected())
        except IntegrityError:
            # Nothing of the group was saved; each command is decided again on its own.
            self._forget([*group.changed, *group.reads])
            for queued, _ in group.decided:
                queued.send_back()
            return
        except Exception as error:  # noqa: BLE001 - the store failed: so does every command
            for queued, _ in group.decided:
                queued.answer(error=error)
            return
        self.groups += 1
        ends = command_ends(positions, group.marks)
        for (queued, decision), end in zip(group.decided, ends, strict=True):
            queued.answer(self._answer(decision, end))

    def _run_alone(self, queued: _Queued, decided: Decided | None) -> None:
        try:
            alone = queued.alone or self._alone
            queued.answer(queued.context.run(alone, queued.decide, decided))
        except Exception as error:  # noqa: BLE001 - raised in its caller's thread
            queued.answer(error=error)


def collect(processing: ProcessingEvent[UUID], obj: Any) -> None:
    """Add an aggregate's pending events (or an event) to a save, as
    ``ProcessingEvent.collect_events`` does, without its checks against the library's
    runtime protocols: those walk every attribute of the protocol and cost more than
    the rest of the collecting."""
    if isinstance(obj, Aggregate):
        processing.events.extend(obj.collect_events())
        processing.aggregates[obj.id] = obj
    else:
        processing.events.append(obj)


def command_ends(positions: Sequence[int], marks: Sequence[GroupMark]) -> list[int]:
    """Each command's last position in a group's save: its events follow the previous
    command's (one that appended nothing reached where the one before it did)."""
    ordered, ends, taken = sorted(positions), [], 0
    for mark in marks:
        taken += mark.events
        ends.append(ordered[taken - 1] if taken else (ordered[0] if ordered else 0))
    return ends


@contextmanager
def _grouping(marks: Sequence[GroupMark]) -> Iterator[None]:
    token = grouped.set(marks)
    try:
        yield
    finally:
        grouped.reset(token)
