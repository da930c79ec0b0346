//! What a reservation does with the answer of the external feasibility
//! check (a dependency behind the `feasibility` breaker, asked before stock
//! is held). The service asks and times the call; this decides.
//!
//! | answer      | when unavailable   | verdict                              |
//! |-------------|--------------------|--------------------------------------|
//! | feasible    | either             | proceed, verified                    |
//! | infeasible  | either             | refuse, `INFEASIBLE`                 |
//! | unavailable | `refuse`           | refuse, `DEPENDENCY_UNAVAILABLE`     |
//! | unavailable | `accept_unverified`| proceed, marked unverified           |
//!
//! "Unavailable" covers an error, a timeout and a breaker that refused the
//! call: the caller never learns less than that the check was not made.

use crate::reason::ReasonCode;

/// The dependency's name, as an unverified decision lists it.
pub const DEPENDENCY: &str = "feasibility";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Feasible,
    Infeasible,
    Unavailable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenUnavailable {
    Refuse,
    AcceptUnverified,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Decide as usual; the check passed.
    Verified,
    /// Decide as usual, and say in the answer that the check was not made.
    Unverified,
    /// Do not decide; answer with this reason.
    Refused(ReasonCode),
}

impl Answer {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "feasible" => Some(Answer::Feasible),
            "infeasible" => Some(Answer::Infeasible),
            "unavailable" => Some(Answer::Unavailable),
            _ => None,
        }
    }
}

impl WhenUnavailable {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "refuse" => Some(WhenUnavailable::Refuse),
            "accept_unverified" => Some(WhenUnavailable::AcceptUnverified),
            _ => None,
        }
    }
}

impl Verdict {
    pub const fn name(self) -> &'static str {
        match self {
            Verdict::Verified => "VERIFIED",
            Verdict::Unverified => "UNVERIFIED",
            Verdict::Refused(_) => "REFUSED",
        }
    }
}

pub fn verdict(answer: Answer, when_unavailable: WhenUnavailable) -> Verdict {
    match (answer, when_unavailable) {
        (Answer::Feasible, _) => Verdict::Verified,
        (Answer::Infeasible, _) => Verdict::Refused(ReasonCode::INFEASIBLE),
        (Answer::Unavailable, WhenUnavailable::Refuse) => {
            Verdict::Refused(ReasonCode::DEPENDENCY_UNAVAILABLE)
        }
        (Answer::Unavailable, WhenUnavailable::AcceptUnverified) => Verdict::Unverified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answer_under_every_policy() {
        use Answer::*;
        use WhenUnavailable::*;
        let table = [
            (Feasible, Refuse, Verdict::Verified),
            (Feasible, AcceptUnverified, Verdict::Verified),
            (Infeasible, Refuse, Verdict::Refused(ReasonCode::INFEASIBLE)),
            (
                Infeasible,
                AcceptUnverified,
                Verdict::Refused(ReasonCode::INFEASIBLE),
            ),
            (
                Unavailable,
                Refuse,
                Verdict::Refused(ReasonCode::DEPENDENCY_UNAVAILABLE),
            ),
            (Unavailable, AcceptUnverified, Verdict::Unverified),
        ];
        for (answer, policy, expected) in table {
            assert_eq!(verdict(answer, policy), expected, "{answer:?} {policy:?}");
        }
    }

    #[test]
    fn names_are_the_configuration_words() {
        assert_eq!(Answer::from_name("infeasible"), Some(Answer::Infeasible));
        assert_eq!(
            WhenUnavailable::from_name("accept_unverified"),
            Some(WhenUnavailable::AcceptUnverified)
        );
        assert_eq!(WhenUnavailable::from_name("maybe"), None);
    }
}
