//! `holdfast._core.Engine`: the core engine behind a Python class.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use holdfast_core::state::Bucket;
use holdfast_core::{limits, Command, Config, Engine as CoreEngine, Event, Request};

use crate::convert;
use crate::outcome::Outcome;
use crate::rules::RuleSet;
use crate::shared;
use crate::wire;
use crate::InvariantViolation;

#[pyclass(module = "holdfast._core")]
pub struct Engine {
    inner: CoreEngine,
}

impl Engine {
    fn run(
        &mut self,
        tenant: String,
        key: String,
        actor: String,
        now: i64,
        command: Command,
    ) -> Outcome {
        let request = Request {
            meta: convert::meta(tenant, key, actor, now),
            command,
        };
        self.inner.execute(&request).into()
    }
}

fn config(
    default_hold_ms: i64,
    max_hold_ms: i64,
    idempotency_retention_ms: i64,
    node_id: u32,
    rule_version: String,
    caps: (u64, u64),
) -> PyResult<Config> {
    if node_id > holdfast_core::ids::MAX_NODE_ID {
        return Err(PyValueError::new_err(format!(
            "node_id must be at most {}",
            holdfast_core::ids::MAX_NODE_ID
        )));
    }
    if default_hold_ms <= 0 || max_hold_ms < default_hold_ms || idempotency_retention_ms <= 0 {
        return Err(PyValueError::new_err(
            "need 0 < default_hold_ms <= max_hold_ms and idempotency_retention_ms > 0",
        ));
    }
    Ok(Config {
        default_hold_ms,
        max_hold_ms,
        idempotency_retention_ms,
        node_id,
        initial_rule_version: rule_version,
        // 0: no cap.
        tenant_max_open_holds: Some(caps.0).filter(|&cap| cap > 0),
        tenant_max_held_units: Some(caps.1).filter(|&cap| cap > 0),
    })
}

#[pymethods]
impl Engine {
    #[new]
    #[pyo3(signature = (*, default_hold_ms=900_000, max_hold_ms=86_400_000, idempotency_retention_ms=86_400_000, node_id=0, rule_version="builtin-1".to_owned(), tenant_max_open_holds=0, tenant_max_held_units=0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        default_hold_ms: i64,
        max_hold_ms: i64,
        idempotency_retention_ms: i64,
        node_id: u32,
        rule_version: String,
        tenant_max_open_holds: u64,
        tenant_max_held_units: u64,
    ) -> PyResult<Self> {
        Ok(Engine {
            inner: CoreEngine::new(config(
                default_hold_ms,
                max_hold_ms,
                idempotency_retention_ms,
                node_id,
                rule_version,
                (tenant_max_open_holds, tenant_max_held_units),
            )?),
        })
    }

    /// Rebuild an engine from `snapshot()` bytes (configuration is not part of a snapshot).
    #[staticmethod]
    #[pyo3(signature = (snapshot, *, default_hold_ms=900_000, max_hold_ms=86_400_000, idempotency_retention_ms=86_400_000, node_id=0, tenant_max_open_holds=0, tenant_max_held_units=0))]
    #[allow(clippy::too_many_arguments)]
    fn restore(
        snapshot: &[u8],
        default_hold_ms: i64,
        max_hold_ms: i64,
        idempotency_retention_ms: i64,
        node_id: u32,
        tenant_max_open_holds: u64,
        tenant_max_held_units: u64,
    ) -> PyResult<Self> {
        let config = config(
            default_hold_ms,
            max_hold_ms,
            idempotency_retention_ms,
            node_id,
            String::from("restored"),
            (tenant_max_open_holds, tenant_max_held_units),
        )?;
        CoreEngine::restore(config, snapshot)
            .map(|inner| Engine { inner })
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    #[pyo3(signature = (tenant, idempotency_key, actor, now, order_ref, channel, lines, hold_seconds=0, allow_partial=false, destination_region="", unverified=false))]
    #[allow(clippy::too_many_arguments)]
    fn reserve(
        &mut self,
        tenant: String,
        idempotency_key: String,
        actor: String,
        now: i64,
        order_ref: String,
        channel: String,
        lines: &Bound<'_, PyAny>,
        hold_seconds: i64,
        allow_partial: bool,
        destination_region: &str,
        unverified: bool,
    ) -> PyResult<Outcome> {
        let command = Command::Reserve {
            order_ref,
            channel,
            lines: convert::lines(lines)?,
            hold_seconds,
            allow_partial,
            destination_region: destination_region.to_owned(),
        };
        let mut meta = convert::meta(tenant, idempotency_key, actor, now);
        meta.unverified = unverified;
        Ok(self.inner.execute(&Request { meta, command }).into())
    }

    #[pyo3(signature = (tenant, idempotency_key, actor, now, reservation_id, lines=None, ship_by=String::new()))]
    #[allow(clippy::too_many_arguments)]
    fn allocate(
        &mut self,
        tenant: String,
        idempotency_key: String,
        actor: String,
        now: i64,
        reservation_id: String,
        lines: Option<&Bound<'_, PyAny>>,
        ship_by: String,
    ) -> PyResult<Outcome> {
        let command = Command::Allocate {
            reservation_id,
            lines: convert::optional_lines(lines)?,
            ship_by,
        };
        Ok(self.run(tenant, idempotency_key, actor, now, command))
    }

    #[pyo3(signature = (tenant, idempotency_key, actor, now, reservation_id, note=String::new()))]
    fn release(
        &mut self,
        tenant: String,
        idempotency_key: String,
        actor: String,
        now: i64,
        reservation_id: String,
        note: String,
    ) -> Outcome {
        let command = Command::Release {
            reservation_id,
            note,
        };
        self.run(tenant, idempotency_key, actor, now, command)
    }

    #[pyo3(signature = (tenant, idempotency_key, actor, now, reservation_id, hold_seconds=0))]
    fn renew_hold(
        &mut self,
        tenant: String,
        idempotency_key: String,
        actor: String,
        now: i64,
        reservation_id: String,
        hold_seconds: i64,
    ) -> Outcome {
        let command = Command::RenewHold {
            reservation_id,
            hold_seconds,
        };
        self.run(tenant, idempotency_key, actor, now, command)
    }

    #[pyo3(signature = (tenant, idempotency_key, actor, now, reservation_id, lines=None, as_of=None))]
    #[allow(clippy::too_many_arguments)]
    fn confirm_pick(
        &mut self,
        tenant: String,
        idempotency_key: String,
        actor: String,
        now: i64,
        reservation_id: String,
        lines: Option<&Bound<'_, PyAny>>,
        as_of: Option<i64>,
    ) -> PyResult<Outcome> {
        let command = Command::ConfirmPick {
            reservation_id,
            lines: convert::optional_lines(lines)?,
            as_of,
        };
        Ok(self.run(tenant, idempotency_key, actor, now, command))
    }

    #[pyo3(signature = (tenant, idempotency_key, actor, now, reservation_id, lines=None))]
    fn unpick(
        &mut self,
        tenant: String,
        idempotency_key: String,
        actor: String,
        now: i64,
        reservation_id: String,
        lines: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Outcome> {
        let command = Command::Unpick {
            reservation_id,
            lines: convert::optional_lines(lines)?,
        };
        Ok(self.run(tenant, idempotency_key, actor, now, command))
    }

    #[pyo3(signature = (tenant, idempotency_key, actor, now, reservation_id, lines=None, as_of=None))]
    #[allow(clippy::too_many_arguments)]
    fn confirm_shipment(
        &mut self,
        tenant: String,
        idempotency_key: String,
        actor: String,
        now: i64,
        reservation_id: String,
        lines: Option<&Bound<'_, PyAny>>,
        as_of: Option<i64>,
    ) -> PyResult<Outcome> {
        let command = Command::ConfirmShipment {
            reservation_id,
            lines: convert::optional_lines(lines)?,
            as_of,
        };
        Ok(self.run(tenant, idempotency_key, actor, now, command))
    }

    #[pyo3(signature = (tenant, idempotency_key, actor, now, reservation_id, lines=None, restock=true, as_of=None))]
    #[allow(clippy::too_many_arguments)]
    fn record_return(
        &mut self,
        tenant: String,
        idempotency_key: String,
        actor: String,
        now: i64,
        reservation_id: String,
        lines: Option<&Bound<'_, PyAny>>,
        restock: bool,
        as_of: Option<i64>,
    ) -> PyResult<Outcome> {
        let command = Command::RecordReturn {
            reservation_id,
            lines: convert::optional_lines(lines)?,
            restock,
            as_of,
        };
        Ok(self.run(tenant, idempotency_key, actor, now, command))
    }

    #[pyo3(signature = (tenant, idempotency_key, actor, now, sku, location, on_hand, source_sequence, as_of=None))]
    #[allow(clippy::too_many_arguments)]
    fn set_stock(
        &mut self,
        tenant: String,
        idempotency_key: String,
        actor: String,
        now: i64,
        sku: String,
        location: String,
        on_hand: u64,
        source_sequence: u64,
        as_of: Option<i64>,
    ) -> Outcome {
        let command = Command::SetStock {
            sku,
            location,
            on_hand,
            source_sequence,
            as_of,
        };
        self.run(tenant, idempotency_key, actor, now, command)
    }

    #[allow(clippy::too_many_arguments)]
    fn adjust_stock(
        &mut self,
        tenant: String,
        idempotency_key: String,
        actor: String,
        now: i64,
        sku: String,
        location: String,
        delta: i64,
        adjustment_reason: String,
    ) -> Outcome {
        let command = Command::AdjustStock {
            sku,
            location,
            delta,
            adjustment_reason,
        };
        self.run(tenant, idempotency_key, actor, now, command)
    }

    #[allow(clippy::too_many_arguments)]
    fn set_safety_stock(
        &mut self,
        tenant: String,
        idempotency_key: String,
        actor: String,
        now: i64,
        sku: String,
        location: String,
        quantity: u64,
    ) -> Outcome {
        let command = Command::SetSafetyStock {
            sku,
            location,
            quantity,
        };
        self.run(tenant, idempotency_key, actor, now, command)
    }

    /// Decide many requests in one call, with the GIL released while the
    /// core works. Items are tuples: `(operation, tenant, idempotency_key,
    /// actor, now, *arguments)`; see `_core.pyi` for each operation's arguments.
    fn execute_batch(
        mut slf: PyRefMut<'_, Self>,
        requests: &Bound<'_, PyList>,
    ) -> PyResult<Vec<Outcome>> {
        if requests.len() > limits::MAX_BATCH {
            return Err(PyValueError::new_err(format!(
                "a batch holds at most {} requests",
                limits::MAX_BATCH
            )));
        }
        let requests = requests
            .iter()
            .enumerate()
            .map(|(i, item)| {
                convert::batch_request(&item)
                    .map_err(|e| PyValueError::new_err(format!("batch item {i}: {e}")))
            })
            .collect::<PyResult<Vec<Request>>>()?;
        let py = slf.py();
        let engine = &mut slf.inner;
        let outcomes = py.detach(|| engine.execute_batch(&requests));
        Ok(outcomes.into_iter().map(Outcome::from).collect())
    }

    /// Whether executing this batch item would make a new decision (false:
    /// its limits refuse it, or its idempotency key is live and answers it).
    fn would_decide(&self, item: &Bound<'_, PyAny>) -> PyResult<bool> {
        let request = convert::batch_request(item)?;
        Ok(self.inner.would_decide(&request))
    }

    /// Decide this batch item against this engine's state without applying
    /// it, for a shared store: `(outcome, None)` when there is nothing to
    /// commit (a replay, a refusal that is not a decision), else
    /// `(outcome, (event, plan))`. A new reservation's id uses `mint`.
    #[allow(clippy::type_complexity)]
    fn propose<'py>(
        &mut self,
        py: Python<'py>,
        item: &Bound<'py, PyAny>,
        mint: u64,
    ) -> PyResult<(Outcome, Option<(Bound<'py, PyBytes>, Bound<'py, PyDict>)>)> {
        let request = convert::batch_request(item)?;
        let (outcome, proposal) = self.inner.propose(&request, mint);
        let proposal = match proposal {
            Some((event, plan)) => Some(shared::proposal(py, &event, &plan)?),
            None => None,
        };
        Ok((outcome.into(), proposal))
    }

    /// The expiry of a hold due at `now`, as `(event, plan)`; None when the
    /// reservation is unknown, no longer holding or renewed past `now`.
    #[allow(clippy::type_complexity)]
    fn propose_expiry<'py>(
        &self,
        py: Python<'py>,
        reservation_id: &str,
        now: i64,
    ) -> PyResult<Option<(Bound<'py, PyBytes>, Bound<'py, PyDict>)>> {
        let Some(id) = holdfast_core::ids::parse(reservation_id) else {
            return Ok(None);
        };
        match self.inner.propose_expiry(&id, now) {
            Some((event, plan)) => Ok(Some(shared::proposal(py, &event, &plan)?)),
            None => Ok(None),
        }
    }

    /// Forgetting idempotency records past their retention at `now`, as
    /// `(event, plan)`; None when none is due.
    fn propose_purge<'py>(
        &self,
        py: Python<'py>,
        now: i64,
    ) -> PyResult<Option<(Bound<'py, PyBytes>, Bound<'py, PyDict>)>> {
        match self.inner.propose_purge(now) {
            Some((event, plan)) => Ok(Some(shared::proposal(py, &event, &plan)?)),
            None => Ok(None),
        }
    }

    /// The switch to rule-set `version`, as `(event, plan)`.
    fn propose_rule_version<'py>(
        &self,
        py: Python<'py>,
        version: &str,
        actor: &str,
        now: i64,
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyDict>)> {
        limits::name("rule_version", version)
            .and_then(|()| limits::name("actor", actor))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let (event, plan) = self.inner.propose_rule_version(version, actor, now);
        shared::proposal(py, &event, &plan)
    }

    /// Apply events committed to the shared store, `(seq, encoded event)` in
    /// the store's order; the store's seq replaces the proposed one.
    fn apply_committed(&mut self, events: Vec<(u64, Vec<u8>)>) -> PyResult<()> {
        for (seq, bytes) in events {
            let event = Event::decode(&bytes).map_err(|e| {
                PyValueError::new_err(format!("committed event {seq} is not readable: {e}"))
            })?;
            self.inner
                .apply_committed(seq, event)
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
        }
        Ok(())
    }

    /// Up to `limit` holds due at `now` not yet ended by a committed expiry.
    fn due_holds(&mut self, now: i64, limit: usize) -> Vec<String> {
        self.inner
            .due_holds(now, limit)
            .into_iter()
            .map(|id| id.to_string())
            .collect()
    }

    /// Each accepted outcome's `OperationResult`, encoded (`None` for a
    /// refusal: its status is encoded by the caller). `answers` says, per
    /// outcome, which answer it gets: 0 `reserve`, 1 `reservation`, 2
    /// `stock`; the reservation or position shown is as the engine is now.
    /// With `committed_later`, decisions leave `committed_at` out for the
    /// caller to add once committed.
    fn encode_results<'py>(
        &self,
        py: Python<'py>,
        tenant: &str,
        outcomes: Vec<PyRef<'py, Outcome>>,
        answers: Vec<u8>,
        committed_later: bool,
    ) -> PyResult<Vec<Option<Bound<'py, PyBytes>>>> {
        if outcomes.len() != answers.len() {
            return Err(PyValueError::new_err("one answer kind per outcome"));
        }
        let mut encoded = Vec::with_capacity(outcomes.len());
        for (outcome, answer) in outcomes.iter().zip(answers) {
            let result = wire::operation_result(
                &self.inner,
                tenant,
                &outcome.inner,
                answer,
                committed_later,
            );
            encoded.push(result.map(|bytes| PyBytes::new(py, &bytes)));
        }
        Ok(encoded)
    }

    /// Expire every hold due at `now`; returns the expired reservation ids.
    fn expire_due(&mut self, now: i64) -> Vec<String> {
        self.inner
            .expire_due(now)
            .into_iter()
            .map(|id| id.to_string())
            .collect()
    }

    /// Holds expired (by any request's sweep or expire_due) since the last call.
    fn take_expired_count(&mut self) -> u64 {
        self.inner.take_expired_count()
    }

    /// Forget idempotency keys past their retention; returns how many.
    fn purge_idempotency(&mut self, now: i64) -> usize {
        self.inner.purge_idempotency(now)
    }

    fn set_rule_version(&mut self, version: &str, actor: &str, now: i64) -> PyResult<()> {
        self.inner
            .set_rule_version(version, actor, now)
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    #[getter]
    fn rule_version(&self) -> &str {
        self.inner.rule_version()
    }

    /// The events decided since the last drain: `(seq, encoded event)`, oldest first.
    fn drain_journal<'py>(&mut self, py: Python<'py>) -> Vec<(u64, Bound<'py, PyBytes>)> {
        let mut buffer = Vec::new();
        self.inner
            .drain_journal()
            .iter()
            .map(|event| {
                buffer = event.encode_into(std::mem::take(&mut buffer));
                (event.seq, PyBytes::new(py, &buffer))
            })
            .collect()
    }

    #[getter]
    fn next_seq(&self) -> u64 {
        self.inner.next_seq()
    }

    /// Apply journaled events (encoded by `drain_journal`) in order.
    fn replay(&mut self, events: Vec<Vec<u8>>) -> PyResult<()> {
        let decoded = events
            .iter()
            .map(|bytes| Event::decode(bytes))
            .collect::<Result<Vec<Event>, _>>()
            .map_err(|e| PyValueError::new_err(format!("journal event is not readable: {e}")))?;
        self.inner
            .replay(&decoded)
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// A journaled event as JSON, for people and downstream feeds.
    #[staticmethod]
    fn event_json(event: &[u8]) -> PyResult<String> {
        Event::decode(event)
            .map(|event| event.to_json())
            .map_err(|e| PyValueError::new_err(format!("journal event is not readable: {e}")))
    }

    /// What a journaled event is about, for indexing and feeds: seq, at, kind,
    /// tenant, actor, idempotency_key, reservation_id, skus, reason, rule_version.
    #[staticmethod]
    fn event_summary<'py>(py: Python<'py>, event: &[u8]) -> PyResult<Bound<'py, PyDict>> {
        let event = Event::decode(event)
            .map_err(|e| PyValueError::new_err(format!("journal event is not readable: {e}")))?;
        let summary = PyDict::new(py);
        summary.set_item("seq", event.seq)?;
        summary.set_item("at", event.at)?;
        summary.set_item("kind", event.kind())?;
        summary.set_item("tenant", &*event.tenant)?;
        summary.set_item("actor", &*event.actor)?;
        summary.set_item("idempotency_key", event.idempotency_key.as_deref())?;
        summary.set_item(
            "reservation_id",
            event.reservation_id().map(|id| id.to_string()),
        )?;
        summary.set_item("skus", event.skus())?;
        summary.set_item("reason", event.reason.name())?;
        summary.set_item("rule_version", &*event.rule_version)?;
        Ok(summary)
    }

    fn snapshot<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.snapshot())
    }

    /// Every stored bucket that disagrees with its reservation lines:
    /// dicts of sku, location, bucket, stored, from_lines. Empty when consistent.
    fn audit<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.inner
            .audit()
            .into_iter()
            .map(|d| {
                let view = PyDict::new(py);
                view.set_item("sku", d.sku)?;
                view.set_item("location", d.location)?;
                view.set_item("bucket", d.bucket)?;
                view.set_item("stored", d.stored)?;
                view.set_item("from_lines", d.from_lines)?;
                Ok(view)
            })
            .collect()
    }

    /// Fault injection for audit drills: move a stored bucket without its
    /// lines (not journaled). Whether it moved.
    fn inject_bucket_drift(
        &mut self,
        sku: &str,
        location: &str,
        bucket: &str,
        delta: i64,
    ) -> PyResult<bool> {
        let bucket = Bucket::ALL
            .into_iter()
            .find(|b| b.name() == bucket)
            .ok_or_else(|| PyValueError::new_err(format!("invalid bucket: {bucket:?}")))?;
        Ok(self.inner.inject_bucket_drift(sku, location, bucket, delta))
    }

    /// The built-in rule set under `version` (the configured hold times, no
    /// caps, most available), so that it can be activated again.
    fn builtin_rules(&self, version: &str) -> RuleSet {
        let config = self.inner.config();
        RuleSet {
            inner: holdfast_core::rules::RuleSet::builtin(
                version,
                config.default_hold_ms,
                config.max_hold_ms,
            ),
        }
    }

    /// The version of the rule set deciding now.
    fn active_rules(&self) -> String {
        self.inner.rules().version.clone()
    }

    /// The active rule set's deciding settings (as RuleSet.summary gives them).
    fn active_rules_summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::rules::summary(py, self.inner.rules())
    }

    /// New decisions decided under the shadow too, since it was set.
    fn shadow_decisions(&self) -> u64 {
        self.inner.shadow_decisions()
    }

    /// Switch decisions to `rules` from now on (journaled as its version).
    fn activate_rules(&mut self, rules: &RuleSet, actor: &str, now: i64) -> PyResult<()> {
        self.inner
            .activate_rules(rules.inner.clone(), actor, now)
            .map_err(|rejection| PyValueError::new_err(rejection.to_string()))
    }

    /// After a restore: the body of the version the journal says is active.
    fn install_rules(&mut self, rules: &RuleSet) -> PyResult<()> {
        self.inner
            .install_rules(rules.inner.clone())
            .map_err(PyValueError::new_err)
    }

    /// Decide every new request under `candidate` too, with no effect (None: stop).
    #[pyo3(signature = (candidate=None))]
    fn set_shadow(&mut self, candidate: Option<&RuleSet>) {
        self.inner.set_shadow(candidate.map(|c| c.inner.clone()));
    }

    /// The shadow's version, if one is being decided beside the active set.
    fn shadow_version(&self) -> Option<String> {
        self.inner.shadow().map(|s| s.version.clone())
    }

    /// Where the shadow decided otherwise since the last take: dicts of
    /// kind, action, active (reason), candidate (reason).
    fn take_divergences<'py>(&mut self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.inner
            .take_divergences()
            .into_iter()
            .map(|d| {
                let view = PyDict::new(py);
                view.set_item("kind", d.kind)?;
                view.set_item("action", d.action)?;
                view.set_item("active", d.active.name())?;
                view.set_item("candidate", d.candidate.name())?;
                Ok(view)
            })
            .collect()
    }

    fn check_invariants(&self) -> PyResult<()> {
        self.inner
            .check_invariants()
            .map_err(InvariantViolation::new_err)
    }

    /// The caller's reservation as a dict, or None (also for another tenant's).
    fn reservation<'py>(
        &self,
        py: Python<'py>,
        tenant: &str,
        reservation_id: &str,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        match self.inner.reservation(tenant, reservation_id) {
            Ok(view) => convert::reservation(py, &view).map(Some),
            Err(_) => Ok(None),
        }
    }

    fn position<'py>(
        &self,
        py: Python<'py>,
        sku: &str,
        location: &str,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.inner
            .position(sku, location)
            .map(|view| convert::position(py, &view))
            .transpose()
    }

    /// Positions matching the filters (empty matches all), in creation order.
    #[pyo3(signature = (skus=Vec::new(), locations=Vec::new()))]
    fn positions<'py>(
        &self,
        py: Python<'py>,
        skus: Vec<String>,
        locations: Vec<String>,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let skus: Vec<&str> = skus.iter().map(String::as_str).collect();
        let locations: Vec<&str> = locations.iter().map(String::as_str).collect();
        self.inner
            .positions(&skus, &locations)
            .iter()
            .map(|view| convert::position(py, view))
            .collect()
    }

    /// Open OVERCOMMITTED exceptions, oldest first.
    fn overcommitted<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.inner
            .overcommitted()
            .iter()
            .map(|view| convert::position(py, view))
            .collect()
    }

    fn open_holds(&self) -> usize {
        self.inner.open_holds()
    }

    fn reservation_count(&self) -> usize {
        self.inner.reservation_count()
    }

    fn idempotency_key_count(&self) -> usize {
        self.inner.idempotency_key_count()
    }

    /// For metrics at `now` (unix ms): when the oldest open hold was placed
    /// (None when none is open), how many holds are past their expiry but
    /// not yet expired, and the earliest due time among those (None: none).
    fn hold_ages(&self, now: i64) -> (Option<i64>, usize, Option<i64>) {
        self.inner.hold_ages(now)
    }
}
