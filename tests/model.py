"""A small pure-Python model of the holdfast core's state machine.

The oracle for the model-based tests and the benchmark's pure-Python
baseline; with model_rules.py and model_state.py, the only place a Python
copy of the rules may live (ARCHITECTURE.md section 2). ``ModelEngine`` takes
the same constructor keywords and has the same methods as ``holdfast.Engine``
for the decisions and the reads the tests compare; ids are minted like the
core's, so they compare equal.

It mirrors rust/core/src/engine: every request is validated, then due holds
are swept, then the idempotency key is looked up, then the command is decided
and applied. Deciding checks every guard before it touches state, so a
rejection changes nothing.

Two simplifications: a request's fingerprint is the canonical command tuple
compared for equality (the core hashes its encoding), and numbers are plain
Python ints (the core's overflow guards are out of the tests' reach).

One intended difference: a missing ``as_of`` stays missing in the fingerprint
(see ``_moves``); the binding today fills in ``now`` before fingerprinting.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import model_rules as rules
from model_rules import (
    ACCEPTED_REASON,
    BUCKET,
    EXPIRED,
    OWNER,
    RELEASED,
    RESERVED,
    RETURNED,
    SHIPPED,
    SYSTEM_ACTOR,
    TRANSITIONS,
    ModelRejection,
)
from model_state import (
    Line,
    Lines,
    Malformed,
    ModelOutcome,
    PlacedLines,
    Position,
    Record,
    Refused,
    Reservation,
    group_lines,
    line_tuples,
)

# Moves the warehouse reports: they carry its time of the fact.
WAREHOUSE_MOVES = ("pick", "unpick", "ship", "return")


class ModelEngine:
    def __init__(
        self,
        *,
        default_hold_ms: int = 900_000,
        max_hold_ms: int = 86_400_000,
        idempotency_retention_ms: int = 86_400_000,
        node_id: int = 0,
        rule_version: str = "builtin-1",
    ) -> None:
        self.default_hold_ms = default_hold_ms
        self.max_hold_ms = max_hold_ms
        self.retention_ms = idempotency_retention_ms
        self.node_id = node_id
        self.rule_version = rule_version
        self.stock: dict[tuple[str, str], Position] = {}  # in creation order
        self.reservations: dict[str, Reservation] = {}  # in creation order
        self.records: dict[tuple[str, str], Record] = {}
        self.minted = 0

    # --- the pipeline shared by every request

    def _execute(self, meta: tuple[str, str, str, int], command: tuple[Any, ...], problem, decide):
        tenant, key, actor, now = meta
        problem = rules.first_problem(
            rules.check_timestamp("now", now),
            rules.check_name("tenant", tenant),
            rules.check_name("idempotency_key", key),
            rules.check_name("actor", actor),
            problem,
        )
        owner = OWNER[command[0]]
        if problem:
            return self._refusal(now, owner, problem)
        self._sweep(now)
        record = self.records.get((tenant, key))
        if record is not None and record.decided_at + self.retention_ms > now:
            if record.command != command:
                return self._refusal(now, owner, rules.key_reused(key))
            return dataclasses.replace(record.outcome, replayed=True)
        outcome = ModelOutcome("", now, self.rule_version, owner)
        try:
            reason, target = decide(*meta)
            outcome = dataclasses.replace(outcome, reason=reason, **target)
        except Malformed as malformed:
            return self._refusal(now, owner, malformed.rejection)
        except Refused as refused:
            rejection = refused.rejection
            outcome = dataclasses.replace(outcome, reason=rejection.reason, rejection=rejection)
        self.records[(tenant, key)] = Record(command, now, outcome)
        return outcome

    def _refusal(self, now: int, owner: str, rejection: ModelRejection) -> ModelOutcome:
        """Malformed request or reused key: answered, never stored."""
        return ModelOutcome(rejection.reason, now, self.rule_version, owner, rejection=rejection)

    def _history(self, r: Reservation, at, action, before, reason, actor, key) -> None:
        r.history.append(
            {
                "at": at,
                "action": action,
                "from_state": before,
                "to_state": r.state,
                "reason": reason,
                "actor": actor,
                "rule_version": self.rule_version,
                "idempotency_key": key,
            }
        )

    # --- holds: reserve, renew, expire

    def reserve(
        self,
        tenant,
        idempotency_key,
        actor,
        now,
        order_ref,
        channel,
        lines,
        hold_seconds=0,
        allow_partial=False,
    ):
        lines = line_tuples(lines)
        command = ("reserve", order_ref, channel, lines, hold_seconds, allow_partial)
        problem = rules.first_problem(
            rules.check_name("order_ref", order_ref, may_be_empty=True),
            rules.check_name("channel", channel, may_be_empty=True),
            rules.check_hold(hold_seconds, rules.MAX_HOLD_SECONDS * 1000),
            rules.check_lines(lines, required=True),
        )

        def decide(tenant, key, actor, now):
            # The active rules' longest hold is checked once due holds are swept.
            too_long = rules.check_hold(hold_seconds, self.max_hold_ms)
            if too_long:
                raise Malformed(too_long)
            placed = self._plan_reserve(lines, allow_partial)
            self.minted += 1
            rid = rules.mint(now, self.node_id, self.minted)
            expires_at = now + (hold_seconds * 1000 or self.default_hold_ms)
            r = Reservation(rid, len(self.reservations), tenant, order_ref, channel, expires_at, [])
            for (sku, location), quantity in placed:
                r.lines.append(Line(sku, location, RESERVED, quantity))
                self.stock[(sku, location)].reserved += quantity
            self.reservations[rid] = r
            reason = "PARTIALLY_RESERVED" if placed.short else "RESERVED"
            self._history(r, now, "reserve", None, reason, actor, key)
            return reason, {"reservation_id": rid}

        return self._execute((tenant, idempotency_key, actor, now), command, problem, decide)

    def _plan_reserve(self, lines: Lines, allow_partial: bool) -> PlacedLines:
        skus = {sku for sku, _ in self.stock}
        locations = {location for _, location in self.stock}
        planned: dict[tuple[str, str], int] = {}  # units this request takes per position
        placed = PlacedLines()
        shortage = None
        for (sku, location), quantities in group_lines(lines).items():
            requested = sum(quantities)
            if sku not in skus:
                raise Refused(rules.unknown_sku(sku))
            if not location:
                chosen = self._choose_location(sku, planned)
            elif location not in locations:
                raise Refused(rules.unknown_location(location))
            else:
                chosen = (sku, location) if (sku, location) in self.stock else None
            available = 0
            if chosen is not None:
                available = max(0, self.stock[chosen].available - planned.get(chosen, 0))
            granted = min(requested, available)
            if granted < requested:
                placed.short = True
                if shortage is None:
                    where = chosen[1] if chosen else location
                    shortage = rules.insufficient_stock(sku, where, requested, available)
                if not allow_partial:
                    continue
            if chosen is None or granted == 0:
                continue
            planned[chosen] = planned.get(chosen, 0) + granted
            for quantity in quantities:  # granted units go to the group's lines in order
                if granted == 0:
                    break
                placed.append((chosen, min(quantity, granted)))
                granted -= min(quantity, granted)
        if shortage is not None and (not allow_partial or not placed):
            raise Refused(shortage)
        return placed

    def _choose_location(self, sku: str, planned) -> tuple[str, str]:
        """Most units available after this request's other lines; first created on a tie."""
        best, most = None, None
        for key, position in self.stock.items():
            if key[0] == sku:
                free = position.available - planned.get(key, 0)
                if most is None or free > most:
                    best, most = key, free
        assert best is not None, "a known SKU has a position"
        return best

    def renew_hold(self, tenant, idempotency_key, actor, now, reservation_id, hold_seconds=0):
        command = ("renew_hold", reservation_id, hold_seconds)
        problem = rules.first_problem(
            rules.check_reservation_id(reservation_id),
            rules.check_hold(hold_seconds, rules.MAX_HOLD_SECONDS * 1000),
        )

        def decide(tenant, key, actor, now):
            r = self._reservation_for(tenant, reservation_id)
            if not r.holding:
                raise Refused(self._cannot(r, "renew_hold"))
            too_long = rules.check_hold(hold_seconds, self.max_hold_ms)
            if too_long:
                raise Malformed(too_long)
            before = r.state
            r.expires_at = now + (hold_seconds * 1000 or self.default_hold_ms)
            self._history(r, now, "renew_hold", before, "HOLD_RENEWED", actor, key)
            return "HOLD_RENEWED", {"reservation_id": r.reservation_id}

        return self._execute((tenant, idempotency_key, actor, now), command, problem, decide)

    def expire_due(self, now: int) -> list[str]:
        return self._sweep(now)

    def _sweep(self, now: int) -> list[str]:
        """Expire every hold due at `now`, soonest first; each at its due time."""
        due = [r for r in self.reservations.values() if r.holding and r.expires_at <= now]
        due.sort(key=lambda r: (r.expires_at, r.slot))
        for r in due:
            before = r.state
            moves = [(i, x.quantity, EXPIRED) for i, x in enumerate(r.lines) if x.state == RESERVED]
            self._apply_moves(r, moves, False, r.expires_at, None)
            self._history(r, r.expires_at, "expire", before, "HOLD_EXPIRED", SYSTEM_ACTOR, None)
        return [r.reservation_id for r in due]

    # --- line moves: allocate, release, pick, unpick, ship, return

    def allocate(self, tenant, idempotency_key, actor, now, reservation_id, lines=()):
        lines = line_tuples(lines)
        command = ("allocate", reservation_id, lines)
        problem = self._fact_problem(reservation_id, lines, None)
        return self._moves((tenant, idempotency_key, actor, now), command, problem, lines)

    def release(self, tenant, idempotency_key, actor, now, reservation_id, note=""):
        command = ("release", reservation_id, note)
        problem = rules.check_reservation_id(reservation_id) or rules.check_note(note)
        return self._moves((tenant, idempotency_key, actor, now), command, problem, ())

    def confirm_pick(
        self, tenant, idempotency_key, actor, now, reservation_id, lines=(), as_of=None
    ):
        lines = line_tuples(lines)
        command = ("pick", reservation_id, lines, as_of)
        problem = self._fact_problem(reservation_id, lines, as_of)
        return self._moves((tenant, idempotency_key, actor, now), command, problem, lines)

    def unpick(self, tenant, idempotency_key, actor, now, reservation_id, lines=()):
        lines = line_tuples(lines)
        command = ("unpick", reservation_id, lines)
        problem = self._fact_problem(reservation_id, lines, None)
        return self._moves((tenant, idempotency_key, actor, now), command, problem, lines)

    def confirm_shipment(
        self, tenant, idempotency_key, actor, now, reservation_id, lines=(), as_of=None
    ):
        lines = line_tuples(lines)
        command = ("ship", reservation_id, lines, as_of)
        problem = self._fact_problem(reservation_id, lines, as_of)
        return self._moves((tenant, idempotency_key, actor, now), command, problem, lines)

    def record_return(
        self,
        tenant,
        idempotency_key,
        actor,
        now,
        reservation_id,
        lines=(),
        restock=True,
        as_of=None,
    ):
        lines = line_tuples(lines)
        command = ("return", reservation_id, lines, restock, as_of)
        problem = self._fact_problem(reservation_id, lines, as_of)
        meta = (tenant, idempotency_key, actor, now)
        return self._moves(meta, command, problem, lines, restock=restock)

    @staticmethod
    def _fact_problem(reservation_id, lines: Lines, as_of: int | None) -> ModelRejection | None:
        """Checks of a call that moves lines: id, then as_of (if it has one), then lines."""
        return rules.first_problem(
            rules.check_reservation_id(reservation_id),
            None if as_of is None else rules.check_timestamp("as_of", as_of),
            rules.check_lines(lines, False),
        )

    def _moves(self, meta, command, problem, lines: Lines, restock: bool = False):
        """A missing as_of is part of the fingerprint as missing, so a retry
        without one replays. Warehouse-owned moves stamp their positions with
        the warehouse's time (as_of, else now) and ours (now)."""
        action, reservation_id = command[0], command[1]
        as_of = command[-1] if action in ("pick", "ship", "return") else None

        def decide(tenant, key, actor, now):
            r = self._reservation_for(tenant, reservation_id)
            moves = self._plan_moves(r, reservation_id, action, lines)
            self._check_physical_effects(r, action, moves, restock)
            before = r.state
            stamp = (as_of if as_of is not None else now) if action in WAREHOUSE_MOVES else None
            self._apply_moves(r, moves, restock, now, stamp)
            self._history(r, now, action, before, ACCEPTED_REASON[action], actor, key)
            return ACCEPTED_REASON[action], {"reservation_id": r.reservation_id}

        return self._execute(meta, command, problem, decide)

    def _plan_moves(self, r: Reservation, reservation_id: str, action: str, lines: Lines):
        """(line index, units, new state) for every move; splits come on apply."""
        step = TRANSITIONS[action]
        if not any(line.state in step for line in r.lines):
            raise Refused(self._cannot(r, action))
        taken = [0] * len(r.lines)
        moves = []
        if not lines:
            for i, line in enumerate(r.lines):
                if line.state in step:
                    moves.append((i, line.quantity, step[line.state]))
            return moves
        for (sku, location), quantities in group_lines(lines).items():
            wanted = left = sum(quantities)
            matching = [
                i
                for i, line in enumerate(r.lines)
                if line.state in step and line.sku == sku and location in ("", line.location)
            ]
            held = sum(r.lines[i].quantity - taken[i] for i in matching)
            if held < wanted:
                exceeds = rules.quantity_exceeds(
                    reservation_id, action, sku, location, wanted, held
                )
                raise Refused(exceeds)
            for i in matching:
                units = min(r.lines[i].quantity - taken[i], left)
                if units > 0:
                    moves.append((i, units, step[r.lines[i].state]))
                    taken[i] += units
                    left -= units
        if action == "allocate":  # what is not allocated is released
            for i, line in enumerate(r.lines):
                if line.state == RESERVED and taken[i] < line.quantity:
                    moves.append((i, line.quantity - taken[i], RELEASED))
        return moves

    def _check_physical_effects(self, r: Reservation, action, moves, restock) -> None:
        """Shipping may not take on hand below zero, restocking not past its top."""
        if action != "ship" and not (action == "return" and restock):
            return
        units: dict[tuple[str, str], int] = {}
        for i, quantity, _ in moves:
            key = (r.lines[i].sku, r.lines[i].location)
            units[key] = units.get(key, 0) + quantity
        for (sku, location), quantity in units.items():
            on_hand = self.stock[(sku, location)].on_hand
            if action == "ship" and on_hand < quantity:
                raise Refused(rules.insufficient_on_hand(sku, location, on_hand, -quantity))
            if action == "return" and on_hand + quantity > rules.MAX_ON_HAND:
                raise Refused(rules.quantity_overflow(sku, location, "on_hand"))

    def _apply_moves(self, r: Reservation, moves, restock: bool, at: int, stamp) -> None:
        for i, quantity, target in moves:
            line = r.lines[i]
            source = line.state
            if quantity < line.quantity:  # split: the line keeps the rest
                line.quantity -= quantity
                r.lines.append(Line(line.sku, line.location, target, quantity))
            else:
                line.state = target
            position = self.stock[(line.sku, line.location)]
            position.move(source, target, quantity)
            if target == SHIPPED:
                position.on_hand -= quantity
            if target == RETURNED and restock:
                position.on_hand += quantity
            position.track_overcommitment(at)
            if stamp is not None:
                position.as_of, position.received_at = stamp, at

    def _reservation_for(self, tenant: str, reservation_id: str) -> Reservation:
        r = self.reservations.get(rules.parse_id(reservation_id) or "")
        if r is None or r.tenant != tenant:
            raise Refused(rules.not_found(reservation_id))
        return r

    @staticmethod
    def _cannot(r: Reservation, action: str) -> ModelRejection:
        if r.state == EXPIRED:
            return rules.expired(r.reservation_id, r.expires_at)
        return rules.invalid_transition(r.reservation_id, action, r.state)

    # --- warehouse facts: counts, adjustments, safety stock

    def set_stock(
        self,
        tenant,
        idempotency_key,
        actor,
        now,
        sku,
        location,
        on_hand,
        source_sequence,
        as_of=None,
    ):
        command = ("set_stock", sku, location, on_hand, source_sequence, as_of)  # see _moves
        as_of = now if as_of is None else as_of
        problem = rules.first_problem(
            rules.check_name("sku", sku),
            rules.check_name("location", location),
            rules.check_quantity_cap("on_hand", on_hand),
            rules.check_timestamp("as_of", as_of),
        )

        def decide(tenant, key, actor, now):
            current = self.stock.get((sku, location))
            applied = current.source_sequence if current else None
            if applied is not None and source_sequence <= applied:
                raise Refused(rules.stale_update(sku, location, source_sequence, applied))
            reason = self._fact_reason(sku, location, on_hand, None, "STOCK_SET")
            position = self._position_for(sku, location)
            position.on_hand, position.source_sequence = on_hand, source_sequence
            position.as_of, position.received_at = as_of, now
            position.track_overcommitment(now)
            return reason, {"position": (sku, location)}

        return self._execute((tenant, idempotency_key, actor, now), command, problem, decide)

    def adjust_stock(
        self, tenant, idempotency_key, actor, now, sku, location, delta, adjustment_reason
    ):
        command = ("adjust_stock", sku, location, delta, adjustment_reason)
        problem = rules.first_problem(
            rules.check_name("sku", sku),
            rules.check_name("location", location),
            rules.check_delta(delta),
            rules.check_name("adjustment_reason", adjustment_reason),
        )

        def decide(tenant, key, actor, now):
            current = self.stock.get((sku, location))
            on_hand = current.on_hand if current else 0
            if on_hand + delta < 0:
                raise Refused(rules.insufficient_on_hand(sku, location, on_hand, delta))
            if on_hand + delta > rules.MAX_ON_HAND:
                raise Refused(rules.quantity_overflow(sku, location, "on_hand"))
            reason = self._fact_reason(sku, location, on_hand + delta, None, "STOCK_ADJUSTED")
            position = self._position_for(sku, location)
            position.on_hand += delta
            position.received_at = now
            position.track_overcommitment(now)
            return reason, {"position": (sku, location)}

        return self._execute((tenant, idempotency_key, actor, now), command, problem, decide)

    def set_safety_stock(self, tenant, idempotency_key, actor, now, sku, location, quantity):
        command = ("set_safety_stock", sku, location, quantity)
        problem = rules.first_problem(
            rules.check_name("sku", sku),
            rules.check_name("location", location),
            rules.check_quantity_cap("quantity", quantity),
        )

        def decide(tenant, key, actor, now):
            current = self.stock.get((sku, location))
            on_hand = current.on_hand if current else 0
            reason = self._fact_reason(sku, location, on_hand, quantity, "SAFETY_STOCK_SET")
            position = self._position_for(sku, location)
            position.safety_stock = quantity
            position.track_overcommitment(now)
            return reason, {"position": (sku, location)}

        return self._execute((tenant, idempotency_key, actor, now), command, problem, decide)

    def _fact_reason(self, sku, location, on_hand, safety_stock, accepted: str) -> str:
        """OVERCOMMITTED when the fact leaves commitments above what is there."""
        current = self.stock.get((sku, location))
        committed = current.committed if current else 0
        if safety_stock is None:
            safety_stock = current.safety_stock if current else 0
        return "OVERCOMMITTED" if on_hand - committed - safety_stock < 0 else accepted

    def _position_for(self, sku: str, location: str) -> Position:
        return self.stock.setdefault((sku, location), Position(sku, location))

    # --- batches, retention, rule version

    def execute_batch(self, requests: list[tuple[Any, ...]]) -> list[ModelOutcome]:
        return [getattr(self, item[0])(*item[1:]) for item in requests]

    def purge_idempotency(self, now: int) -> int:
        cutoff = now - self.retention_ms
        purged = [k for k, record in self.records.items() if record.decided_at < cutoff]
        for k in purged:
            del self.records[k]
        return len(purged)

    def set_rule_version(self, version: str, actor: str, now: int) -> None:
        problem = rules.check_name("rule_version", version) or rules.check_name("actor", actor)
        if problem:
            raise ValueError(problem.message)
        self.rule_version = version

    # --- reads

    def reservation(self, tenant: str, reservation_id: str) -> dict[str, Any] | None:
        try:
            return self._reservation_for(tenant, reservation_id).view()
        except Refused:
            return None

    def position(self, sku: str, location: str) -> dict[str, Any] | None:
        position = self.stock.get((sku, location))
        return position.view() if position else None

    def positions(self, skus=(), locations=()) -> list[dict[str, Any]]:
        """Positions matching the filters (empty matches all), in creation order."""
        return [
            p.view()
            for p in self.stock.values()
            if (not skus or p.sku in skus) and (not locations or p.location in locations)
        ]

    def overcommitted(self) -> list[dict[str, Any]]:
        open_ = [p for p in self.stock.values() if p.overcommitted_since is not None]
        return [p.view() for p in sorted(open_, key=lambda p: p.overcommitted_since)]

    def open_holds(self) -> int:
        return sum(r.holding for r in self.reservations.values())

    def reservation_count(self) -> int:
        return len(self.reservations)

    def idempotency_key_count(self) -> int:
        return len(self.records)

    def check_invariants(self) -> None:
        held = {key: dict.fromkeys(BUCKET.values(), 0) for key in self.stock}
        for r in self.reservations.values():
            assert r.history, f"reservation {r.reservation_id} has no history"
            for line in r.lines:
                assert line.quantity > 0, f"reservation {r.reservation_id} has an empty line"
                if line.state in BUCKET:
                    held[(line.sku, line.location)][BUCKET[line.state]] += line.quantity
        for key, position in self.stock.items():
            for bucket, units in held[key].items():
                assert getattr(position, bucket) == units, f"{key}: {bucket} != {units}"
            negative = position.available < 0
            assert negative == (position.overcommitted_since is not None), f"{key}: exception"
