//! The consistency audit: every position's reserved / allocated / picked
//! bucket recomputed from the reservation lines and compared with the stored
//! bucket. A difference is reported, never repaired: repairing would hide the
//! bug that caused it, and stock is only ever changed by a decision.

use crate::state::Bucket;

use super::Engine;

/// One stored bucket that disagrees with the lines in that state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditDifference {
    pub sku: String,
    pub location: String,
    /// `reserved`, `allocated` or `picked`.
    pub bucket: &'static str,
    /// What the position says.
    pub stored: u64,
    /// What the reservation lines in that state add up to.
    pub from_lines: u128,
}

impl Bucket {
    pub const ALL: [Bucket; 3] = [Bucket::Reserved, Bucket::Allocated, Bucket::Picked];

    pub const fn name(self) -> &'static str {
        match self {
            Bucket::Reserved => "reserved",
            Bucket::Allocated => "allocated",
            Bucket::Picked => "picked",
        }
    }
}

impl Engine {
    /// Every bucket that disagrees with its lines, in position order; empty
    /// when the state is consistent. Lines naming no position are left to
    /// `check_invariants`, which reports them.
    pub fn audit(&self) -> Vec<AuditDifference> {
        let mut sums = vec![[0u128; 3]; self.positions.len()];
        for line in self.reservations.iter().flat_map(|r| &r.lines) {
            if let (Some(sum), Some(bucket)) =
                (sums.get_mut(line.position as usize), line.state.bucket())
            {
                sum[bucket as usize] += u128::from(line.quantity);
            }
        }
        let mut differences = Vec::new();
        for (position, sum) in self.positions.iter().zip(&sums) {
            for bucket in Bucket::ALL {
                let stored = position.bucket(bucket);
                let from_lines = sum[bucket as usize];
                if u128::from(stored) != from_lines {
                    differences.push(AuditDifference {
                        sku: self.symbols.name(position.sku).to_string(),
                        location: self.symbols.name(position.location).to_string(),
                        bucket: bucket.name(),
                        stored,
                        from_lines,
                    });
                }
            }
        }
        differences
    }
}

impl Engine {
    /// Fault injection for drills and tests of the audit: move a stored
    /// bucket by `delta` without touching the lines, the one kind of
    /// corruption the audit exists to catch. Not journaled (a restart heals
    /// it, as it would heal a bug in memory). False if the position is
    /// unknown or the bucket would leave its range.
    #[doc(hidden)]
    pub fn inject_bucket_drift(
        &mut self,
        sku: &str,
        location: &str,
        bucket: Bucket,
        delta: i64,
    ) -> bool {
        let (Some(sku), Some(location)) = (self.symbols.get(sku), self.symbols.get(location))
        else {
            return false;
        };
        let Some(&index) = self.position_index.get(&(sku, location)) else {
            return false;
        };
        let position = &mut self.positions[index as usize];
        let stored = position.bucket(bucket);
        let Some(drifted) = stored.checked_add_signed(delta) else {
            return false;
        };
        match bucket {
            Bucket::Reserved => position.reserved = drifted,
            Bucket::Allocated => position.allocated = drifted,
            Bucket::Picked => position.picked = drifted,
        }
        true
    }
}
