//! The saving priced as a planner pays, in the words every output of `stats` shares: the figure
//! (output tokens' worth and dollars) and the formula in one line under it, with the numbers it
//! was worked out from.

use super::Prices;
use super::acc::Acc;
use super::text::{dollars, thousands};

/// The headline of `stats`: what landed on disk, less what the planner wrote and read to get it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Saving {
    pub disk_tokens: i64,
    pub planner_tokens: i64,
    pub result_tokens: i64,
    /// Output tokens' worth, unrounded (dollars are worked out from it) and rounded (as shown).
    pub exact: f64,
    pub tokens: i64,
    pub usd: f64,
    pub prices: Prices,
}

impl Saving {
    pub(crate) fn of(total: &Acc, prices: Prices) -> Saving {
        let exact = total.priced_net(prices.ratio);
        Saving {
            disk_tokens: total.artifact_tokens(),
            planner_tokens: total.planner_tokens(),
            result_tokens: total.result_tokens(),
            exact,
            tokens: exact.round() as i64,
            usd: prices.usd(exact),
            prices,
        }
    }

    /// `732 output tokens' worth, $0.0110`.
    pub(crate) fn figure(&self) -> String {
        format!(
            "{} output tokens' worth, {}",
            thousands(self.tokens),
            dollars(self.usd)
        )
    }

    /// `= 1,360 tokens landed on disk - 340 the planner wrote - 1,440 it read back / 5 (…)`.
    pub(crate) fn formula(&self) -> String {
        format!(
            "= {} tokens landed on disk - {} the planner wrote in its calls - {} it read back / {} \
             (output at ${:.2} per million tokens, input at 1/{} of that: --price-per-mtok, \
             --price-ratio)",
            thousands(self.disk_tokens),
            thousands(self.planner_tokens),
            thousands(self.result_tokens),
            ratio(self.prices.ratio),
            self.prices.per_mtok,
            ratio(self.prices.ratio),
        )
    }
}

/// `5`, `4.5`: the ratio as typed.
pub(crate) fn ratio(r: f64) -> String {
    format!("{r}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_formula_reads_as_the_figure_was_worked_out() {
        let total = Acc {
            disk_chars: 5_440,
            planner_chars: 1_360,
            result_chars: 5_760,
            ..Acc::default()
        };
        let s = Saving::of(
            &total,
            Prices {
                per_mtok: 15.0,
                ratio: 5.0,
            },
        );
        // 1,360 - 340 - 1,440 / 5 = 732.
        assert_eq!((s.tokens, s.exact), (732, 732.0));
        assert_eq!(s.figure(), "732 output tokens' worth, $0.0110");
        assert_eq!(
            s.formula(),
            "= 1,360 tokens landed on disk - 340 the planner wrote in its calls - 1,440 it read \
             back / 5 (output at $15.00 per million tokens, input at 1/5 of that: \
             --price-per-mtok, --price-ratio)"
        );
        let cheap_input = Saving::of(
            &total,
            Prices {
                per_mtok: 10.0,
                ratio: 2.5,
            },
        );
        assert_eq!(cheap_input.tokens, 1_360 - 340 - 576);
        assert!(
            cheap_input
                .formula()
                .contains("/ 2.5 (output at $10.00 per million tokens, input at 1/2.5 of that")
        );
    }

    #[test]
    fn a_loss_is_a_negative_figure() {
        let total = Acc {
            planner_chars: 400,
            result_chars: 402,
            ..Acc::default()
        };
        let s = Saving::of(
            &total,
            Prices {
                per_mtok: 15.0,
                ratio: 5.0,
            },
        );
        // -100 - 100 / 5 = -120.
        assert_eq!(s.tokens, -120);
        assert_eq!(s.figure(), "-120 output tokens' worth, -$0.0018");
    }
}
