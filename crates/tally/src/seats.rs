//! Seat allocation by highest averages (D'Hondt) for one constituency, with
//! every round shown so that anyone can redo the count by hand.
//!
//! Seats are the number people argue about, so the rule is written down here
//! in full and the result carries its own working: which party took each seat
//! and with what quotient. This is the published rule:
//!
//! 1. Seats are filled one round at a time. Each round the seat goes to the
//!    party with the highest quotient `votes / (seats already won + 1)`.
//!    Quotients are compared exactly, by cross-multiplying in 128-bit integers,
//!    never as floating-point numbers: two quotients are equal only if they are
//!    equal as fractions.
//! 2. Ties: if several parties share the highest quotient, the party with more
//!    votes in total wins the seat; if they also have the same votes, the party
//!    earlier on the ballot wins. Such a round is marked with `tie: true`.
//! 3. A party with zero votes never wins a seat. If no party has any votes,
//!    the seats are left unfilled and counted in `unfilled`.
//! 4. A one-seat constituency therefore goes to the plurality winner: the
//!    party with the most votes, or of those with the same most votes, the one
//!    earlier on the ballot.
//! 5. If a party appears more than once on the ballot given, its votes are
//!    added together (saturating at `u64::MAX`) and it keeps the ballot
//!    position of its first appearance. The ballot comes from data, so this
//!    must be handled rather than rejected, and a party cannot sensibly stand
//!    twice against itself.
//!
//! The work is O(seats × parties) rounds of comparisons and the result holds
//! one [`Round`] per filled seat, which is fine for real constituencies (a few
//! hundred seats at most). When no party has votes no round is run at all, so
//! a huge seat count with an empty ballot costs nothing.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Serialize, Serializer};
use tallylog_core::types::PartyId;

/// The outcome of one constituency's allocation.
///
/// As JSON (field order as shown):
///
/// ```json
/// {
///   "seats": 2,
///   "won": [{"party": "A", "seats": 2}, {"party": "B", "seats": 0}],
///   "rounds": [
///     {"number": 1, "party": "A", "votes": 3, "divisor": 1, "tie": false},
///     {"number": 2, "party": "A", "votes": 3, "divisor": 2, "tie": false}
///   ],
///   "unfilled": 0
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Allocation {
    /// The seats to fill.
    pub seats: u32,
    /// Seats won, per party, in ballot order, including parties that won none.
    /// Each party appears once, at its first position on the ballot.
    #[serde(serialize_with = "serialize_won")]
    pub won: Vec<(PartyId, u32)>,
    /// Every round in order: which party took the seat and with what quotient.
    pub rounds: Vec<Round>,
    /// Seats left unfilled because no party had any votes.
    pub unfilled: u32,
}

/// One seat being filled. The winning quotient is `votes / divisor`; it is
/// kept as the two integers because the fraction is what the rule compares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Round {
    /// The round's number, from 1.
    pub number: u32,
    /// The party that took the seat.
    pub party: PartyId,
    /// The party's total votes (after adding up any repeated ballot entries).
    pub votes: u64,
    /// The seats the party held before this round, plus one.
    pub divisor: u64,
    /// True when another party had exactly the same quotient and lost the tie.
    pub tie: bool,
}

/// Allocates `seats` seats among the parties of `ballot`, which lists the
/// contest's parties in ballot order with their votes, by the rule in the
/// module documentation. Never panics.
pub fn dhondt(seats: u32, ballot: &[(PartyId, u64)]) -> Allocation {
    let parties = merge_repeats(ballot);
    let mut held = vec![0u32; parties.len()];
    let mut rounds = Vec::new();
    let mut filled = 0u32;

    // Without a party that has votes no round can be won, and skipping the
    // loop keeps an absurd seat count from costing anything.
    if parties.iter().any(|&(_, votes)| votes > 0) {
        for number in 1..=seats {
            let Some(winner) = round_winner(&parties, &held) else {
                // Unreachable while some party has votes, but if it ever
                // happened the honest outcome is an unfilled seat, not a panic.
                break;
            };
            let (party, votes) = parties[winner];
            let divisor = u64::from(held[winner]) + 1;
            let tie = parties
                .iter()
                .enumerate()
                .any(|(other, &(_, other_votes))| {
                    other != winner
                        && other_votes > 0
                        && quotient_cmp(votes, divisor, other_votes, u64::from(held[other]) + 1)
                            == Ordering::Equal
                });
            // A party holds at most `seats - 1` seats before this round, so
            // this cannot overflow.
            held[winner] += 1;
            filled += 1;
            rounds.push(Round {
                number,
                party: party.clone(),
                votes,
                divisor,
                tie,
            });
        }
    }

    Allocation {
        seats,
        won: parties
            .iter()
            .zip(held)
            .map(|(&(party, _), won)| (party.clone(), won))
            .collect(),
        rounds,
        unfilled: seats - filled,
    }
}

/// Adds up the votes of a party listed more than once, keeping the position
/// of its first appearance, so that each party competes exactly once.
fn merge_repeats(ballot: &[(PartyId, u64)]) -> Vec<(&PartyId, u64)> {
    let mut position: BTreeMap<&PartyId, usize> = BTreeMap::new();
    let mut parties: Vec<(&PartyId, u64)> = Vec::with_capacity(ballot.len());
    for (party, votes) in ballot {
        match position.get(party) {
            Some(&at) => parties[at].1 = parties[at].1.saturating_add(*votes),
            None => {
                position.insert(party, parties.len());
                parties.push((party, *votes));
            }
        }
    }
    parties
}

/// The index of the party that wins the next seat, or `None` if no party has
/// votes. Scanning in ballot order and replacing the leader only when strictly
/// ahead is what makes the earlier party win a full tie.
fn round_winner(parties: &[(&PartyId, u64)], held: &[u32]) -> Option<usize> {
    let mut best: Option<(usize, u64, u64)> = None;
    for (index, (&(_, votes), &won)) in parties.iter().zip(held).enumerate() {
        if votes == 0 {
            continue;
        }
        let divisor = u64::from(won) + 1;
        let ahead = match best {
            None => true,
            Some((_, best_votes, best_divisor)) => {
                quotient_cmp(votes, divisor, best_votes, best_divisor).then(votes.cmp(&best_votes))
                    == Ordering::Greater
            }
        };
        if ahead {
            best = Some((index, votes, divisor));
        }
    }
    best.map(|(index, _, _)| index)
}

/// Compares `a_votes / a_div` with `b_votes / b_div` exactly. Both products
/// of a `u64` by a `u64` fit in a `u128`, so cross-multiplying cannot
/// overflow. Divisors here are always at least 1.
fn quotient_cmp(a_votes: u64, a_div: u64, b_votes: u64, b_div: u64) -> Ordering {
    (u128::from(a_votes) * u128::from(b_div)).cmp(&(u128::from(b_votes) * u128::from(a_div)))
}

/// Writes `won` as a list of `{"party": .., "seats": ..}` objects: a named
/// shape reads better to consumers than a list of two-element arrays.
fn serialize_won<S: Serializer>(won: &[(PartyId, u32)], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Won<'a> {
        party: &'a PartyId,
        seats: u32,
    }
    s.collect_seq(won.iter().map(|(party, seats)| Won {
        party,
        seats: *seats,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::Index;

    fn party(name: &str) -> PartyId {
        name.parse()
            .expect("invariant: party names in these tests are valid tokens")
    }

    fn ballot(entries: &[(&str, u64)]) -> Vec<(PartyId, u64)> {
        entries
            .iter()
            .map(|&(name, votes)| (party(name), votes))
            .collect()
    }

    fn won(entries: &[(&str, u32)]) -> Vec<(PartyId, u32)> {
        entries
            .iter()
            .map(|&(name, seats)| (party(name), seats))
            .collect()
    }

    /// Rounds written as (party, votes, divisor, tie), numbered from 1.
    fn rounds(entries: &[(&str, u64, u64, bool)]) -> Vec<Round> {
        rounds_from(1, entries)
    }

    /// Rounds written as (party, votes, divisor, tie), numbered from `first`.
    fn rounds_from(first: u32, entries: &[(&str, u64, u64, bool)]) -> Vec<Round> {
        entries
            .iter()
            .zip(first..)
            .map(|(&(name, votes, divisor, tie), number)| Round {
                number,
                party: party(name),
                votes,
                divisor,
                tie,
            })
            .collect()
    }

    /// The worked example from Wikipedia's D'Hondt article. By hand, the
    /// quotients in descending order are A 100000, B 80000, A 50000,
    /// B 40000, A 33333, C 30000, B 26667, A 25000, and then a three-way tie
    /// at 20000 between A (÷5), B (÷4) and D (÷1).
    fn wikipedia() -> Vec<(PartyId, u64)> {
        ballot(&[("A", 100_000), ("B", 80_000), ("C", 30_000), ("D", 20_000)])
    }

    #[test]
    fn wikipedia_seven_seats() {
        let got = dhondt(7, &wikipedia());
        assert_eq!(got.won, won(&[("A", 3), ("B", 3), ("C", 1), ("D", 0)]));
        assert_eq!(
            got.rounds,
            rounds(&[
                ("A", 100_000, 1, false),
                ("B", 80_000, 1, false),
                ("A", 100_000, 2, false),
                ("B", 80_000, 2, false),
                ("A", 100_000, 3, false),
                ("C", 30_000, 1, false),
                ("B", 80_000, 3, false),
            ])
        );
        assert_eq!(got.unfilled, 0);
        assert_eq!(got.seats, 7);
    }

    #[test]
    fn wikipedia_eight_seats() {
        let got = dhondt(8, &wikipedia());
        assert_eq!(got.won, won(&[("A", 4), ("B", 3), ("C", 1), ("D", 0)]));
        // The eighth seat is A at 100000 / 4 = 25000, clear of B and D at 20000.
        assert_eq!(
            got.rounds.last(),
            Some(&Round {
                number: 8,
                party: party("A"),
                votes: 100_000,
                divisor: 4,
                tie: false,
            })
        );
        assert_eq!(got.unfilled, 0);
    }

    #[test]
    fn equal_quotients_go_to_more_votes() {
        // Seats 9 and 10 fall in the three-way tie at 20000: A (100000 votes)
        // beats B (80000) and D (20000), then B beats D. Seat 11 is D's
        // 20000 against A's 16667, no longer a tie.
        let got = dhondt(11, &wikipedia());
        assert_eq!(
            got.rounds[8..],
            rounds_from(
                9,
                &[
                    ("A", 100_000, 5, true),
                    ("B", 80_000, 4, true),
                    ("D", 20_000, 1, false),
                ]
            )
        );
        assert_eq!(got.won, won(&[("A", 5), ("B", 4), ("C", 1), ("D", 1)]));
    }

    #[test]
    fn equal_quotients_and_votes_go_to_earlier_on_ballot() {
        // ZED is listed before ABC: ballot order, not the name, decides.
        // Round 3 is a three-way tie at 50 (ZED ÷2, ABC ÷2, MID ÷1) settled
        // by votes and then ballot order; round 4 is ABC against MID, settled
        // by votes.
        let got = dhondt(5, &ballot(&[("ZED", 100), ("ABC", 100), ("MID", 50)]));
        assert_eq!(
            got.rounds,
            rounds(&[
                ("ZED", 100, 1, true),
                ("ABC", 100, 1, false),
                ("ZED", 100, 2, true),
                ("ABC", 100, 2, true),
                ("MID", 50, 1, false),
            ])
        );
        assert_eq!(got.won, won(&[("ZED", 2), ("ABC", 2), ("MID", 1)]));
    }

    #[test]
    fn one_seat_goes_to_the_plurality_winner() {
        let got = dhondt(1, &ballot(&[("A", 40), ("B", 45), ("C", 15)]));
        assert_eq!(got.rounds, rounds(&[("B", 45, 1, false)]));
        assert_eq!(got.won, won(&[("A", 0), ("B", 1), ("C", 0)]));

        let tied = dhondt(1, &ballot(&[("A", 10), ("B", 45), ("C", 45)]));
        assert_eq!(tied.rounds, rounds(&[("B", 45, 1, true)]));
    }

    #[test]
    fn zero_vote_parties_win_nothing() {
        let got = dhondt(3, &ballot(&[("A", 0), ("B", 1), ("C", 0)]));
        assert_eq!(got.won, won(&[("A", 0), ("B", 3), ("C", 0)]));
        assert_eq!(got.unfilled, 0);
        assert!(got.rounds.iter().all(|r| r.party == party("B") && !r.tie));
    }

    #[test]
    fn seats_stay_unfilled_without_votes() {
        let got = dhondt(3, &ballot(&[("A", 0), ("B", 0)]));
        assert_eq!(got.won, won(&[("A", 0), ("B", 0)]));
        assert_eq!(got.rounds, []);
        assert_eq!(got.unfilled, 3);

        let empty = dhondt(3, &[]);
        assert_eq!(empty.won, []);
        assert_eq!(empty.unfilled, 3);

        // No round is run without votes, so this returns at once.
        let huge = dhondt(u32::MAX, &ballot(&[("A", 0)]));
        assert_eq!(huge.unfilled, u32::MAX);
        assert_eq!(huge.rounds, []);
    }

    #[test]
    fn zero_seats_allocates_nothing() {
        let got = dhondt(0, &wikipedia());
        assert_eq!(got.won, won(&[("A", 0), ("B", 0), ("C", 0), ("D", 0)]));
        assert_eq!(got.rounds, []);
        assert_eq!(got.unfilled, 0);
    }

    #[test]
    fn repeated_party_votes_are_added_at_first_position() {
        // Apart, A's 10 lose to B's 15; together, A's 20 win.
        let got = dhondt(1, &ballot(&[("A", 10), ("B", 15), ("A", 10)]));
        assert_eq!(got.won, won(&[("A", 1), ("B", 0)]));
        assert_eq!(got.rounds, rounds(&[("A", 20, 1, false)]));
    }

    #[test]
    fn repeated_party_votes_saturate_instead_of_overflowing() {
        let got = dhondt(2, &ballot(&[("A", u64::MAX), ("B", u64::MAX), ("A", 5)]));
        assert_eq!(
            got.rounds,
            rounds(&[("A", u64::MAX, 1, true), ("B", u64::MAX, 1, false)])
        );
    }

    #[test]
    fn quotients_are_compared_exactly() {
        // M/(M-1) and (M-1)/(M-2) are both 1.0 as f64, but x/(x-1) shrinks as
        // x grows, so the second is larger.
        let m = u64::MAX;
        assert_eq!(quotient_cmp(m, m - 1, m - 1, m - 2), Ordering::Less);
        assert_eq!(quotient_cmp(m, m, 1, 1), Ordering::Equal);
        assert_eq!(quotient_cmp(m, 1, m, 2), Ordering::Greater);
    }

    #[test]
    fn json_shape() {
        let got = dhondt(2, &ballot(&[("A", 3), ("B", 1)]));
        let json = serde_json::to_value(&got).expect("invariant: an Allocation always serializes");
        assert_eq!(
            json,
            serde_json::json!({
                "seats": 2,
                "won": [{"party": "A", "seats": 2}, {"party": "B", "seats": 0}],
                "rounds": [
                    {"number": 1, "party": "A", "votes": 3, "divisor": 1, "tie": false},
                    {"number": 2, "party": "A", "votes": 3, "divisor": 2, "tie": false},
                ],
                "unfilled": 0,
            })
        );
    }

    /// Compares `a / b` with `c / d` by continued fractions (repeated integer
    /// division), with no multiplication at all, so that it shares no
    /// arithmetic with [`quotient_cmp`]. Divisors must be at least 1.
    fn euclid_cmp(mut a: u64, mut b: u64, mut c: u64, mut d: u64) -> Ordering {
        loop {
            let whole = (a / b).cmp(&(c / d));
            let (ra, rc) = (a % b, c % d);
            match (whole, ra, rc) {
                (Ordering::Equal, 0, 0) => return Ordering::Equal,
                (Ordering::Equal, 0, _) => return Ordering::Less,
                (Ordering::Equal, _, 0) => return Ordering::Greater,
                // Comparing ra/b with rc/d is comparing their reciprocals the
                // other way round: d/rc with b/ra.
                (Ordering::Equal, _, _) => (a, b, c, d) = (d, rc, b, ra),
                (unequal, _, _) => return unequal,
            }
        }
    }

    /// D'Hondt done differently: list every quotient `votes / d` for
    /// `d = 1..=seats` of every party with votes, sort the whole list by the
    /// tie rule, and take the first `seats`. A round is a tie if a quotient
    /// equal to the winner's, of another party, is left further down.
    /// Expects a ballot without repeated parties.
    fn reference(seats: u32, ballot: &[(PartyId, u64)]) -> Allocation {
        let mut all: Vec<(usize, u64, u64)> = Vec::new();
        for (index, &(_, votes)) in ballot.iter().enumerate() {
            if votes > 0 {
                all.extend((1..=u64::from(seats)).map(|d| (index, votes, d)));
            }
        }
        all.sort_by(|&(i, vi, di), &(j, vj, dj)| {
            euclid_cmp(vj, dj, vi, di).then(vj.cmp(&vi)).then(i.cmp(&j))
        });
        let taken = all.len().min(seats as usize);
        let mut counts = vec![0u32; ballot.len()];
        let mut out = Vec::new();
        for (k, &(i, votes, d)) in all[..taken].iter().enumerate() {
            counts[i] += 1;
            out.push(Round {
                number: u32::try_from(k + 1).expect("invariant: k < seats"),
                party: ballot[i].0.clone(),
                votes,
                divisor: d,
                tie: all[k + 1..]
                    .iter()
                    .any(|&(j, vj, dj)| j != i && euclid_cmp(votes, d, vj, dj) == Ordering::Equal),
            });
        }
        Allocation {
            seats,
            won: ballot.iter().map(|(p, _)| p.clone()).zip(counts).collect(),
            rounds: out,
            unfilled: seats - u32::try_from(taken).expect("invariant: taken <= seats"),
        }
    }

    /// Small vote counts make ties common; full-range ones test overflow.
    fn votes() -> impl Strategy<Value = u64> {
        prop_oneof![0u64..6, 0u64..1_000, any::<u64>()]
    }

    /// A ballot of distinct parties P0, P1, ... in that order.
    fn distinct_ballot() -> impl Strategy<Value = Vec<(PartyId, u64)>> {
        prop::collection::vec(votes(), 0..8).prop_map(|all| {
            all.into_iter()
                .enumerate()
                .map(|(i, v)| (party(&format!("P{i}")), v))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn matches_the_reference(seats in 0u32..40, ballot in distinct_ballot()) {
            prop_assert_eq!(dhondt(seats, &ballot), reference(seats, &ballot));
        }

        #[test]
        fn accounts_for_every_seat(seats in 0u32..40, ballot in distinct_ballot()) {
            let got = dhondt(seats, &ballot);
            let any_votes = ballot.iter().any(|&(_, v)| v > 0);
            prop_assert_eq!(got.seats, seats);
            prop_assert_eq!(got.unfilled, if any_votes { 0 } else { seats });
            let total: u32 = got.won.iter().map(|&(_, w)| w).sum();
            prop_assert_eq!(total, seats - got.unfilled);
            prop_assert_eq!(got.rounds.len(), (seats - got.unfilled) as usize);
            let parties: Vec<_> = ballot.iter().map(|(p, _)| p.clone()).collect();
            let won_parties: Vec<_> = got.won.iter().map(|(p, _)| p.clone()).collect();
            prop_assert_eq!(won_parties, parties);
        }

        #[test]
        fn rounds_show_their_working(seats in 0u32..40, ballot in distinct_ballot()) {
            let got = dhondt(seats, &ballot);
            for (k, round) in got.rounds.iter().enumerate() {
                prop_assert_eq!(round.number as usize, k + 1);
                let earlier = got.rounds[..k].iter().filter(|r| r.party == round.party).count();
                prop_assert_eq!(round.divisor, earlier as u64 + 1);
                let listed = ballot.iter().find(|(p, _)| *p == round.party).map(|&(_, v)| v);
                prop_assert_eq!(Some(round.votes), listed);
                prop_assert!(round.votes > 0);
            }
        }

        #[test]
        fn more_votes_never_cost_a_seat(
            seats in 0u32..40,
            ballot in distinct_ballot(),
            which in any::<Index>(),
            extra in votes(),
        ) {
            prop_assume!(!ballot.is_empty());
            let i = which.index(ballot.len());
            let mut richer = ballot.clone();
            richer[i].1 = richer[i].1.saturating_add(extra);
            let before = dhondt(seats, &ballot).won[i].1;
            let after = dhondt(seats, &richer).won[i].1;
            prop_assert!(after >= before, "party {i}: {before} seats became {after}");
        }

        #[test]
        fn repeats_count_like_their_sum(
            seats in 0u32..40,
            entries in prop::collection::vec((0usize..4, votes()), 0..10),
        ) {
            let repeated: Vec<(PartyId, u64)> = entries
                .iter()
                .map(|&(i, v)| (party(&format!("P{i}")), v))
                .collect();
            let mut summed: Vec<(PartyId, u64)> = Vec::new();
            for (p, v) in &repeated {
                match summed.iter_mut().find(|(q, _)| q == p) {
                    Some(entry) => entry.1 = entry.1.saturating_add(*v),
                    None => summed.push((p.clone(), *v)),
                }
            }
            prop_assert_eq!(dhondt(seats, &repeated), dhondt(seats, &summed));
        }

        #[test]
        fn quotient_cmp_agrees_with_continued_fractions(
            a in any::<u64>(),
            b in 1u64..,
            c in any::<u64>(),
            d in 1u64..,
        ) {
            prop_assert_eq!(quotient_cmp(a, b, c, d), euclid_cmp(a, b, c, d));
        }
    }
}
