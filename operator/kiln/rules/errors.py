"""Why a rule could not be applied to one push.

Every error names the rule, so the webhook receiver can report the rule as rejected (e.g. set its
Valid condition) and still build the other rules that matched the same push.
"""

from __future__ import annotations


class RuleError(Exception):
    """A rule failed on a push; the message is meant for the rule's author."""

    def __init__(self, rule_name: str, message: str) -> None:
        super().__init__(f"rule {rule_name!r}: {message}")
        self.rule_name = rule_name
        self.message = message


class InvalidRule(RuleError):
    """The rule's source selector cannot be used at all (validation would have reported it)."""


class MatchTimeout(RuleError):
    """The rule's pattern ran past the time limit on one ref: it backtracks catastrophically."""

    def __init__(self, rule_name: str, pattern: str, short_name: str, timeout: float) -> None:
        super().__init__(
            rule_name,
            f"pattern {pattern!r} did not finish matching {short_name!r} within {timeout * 1000:g} ms; "
            "it backtracks catastrophically (e.g. nested repeats such as (a|aa)+), simplify it",
        )
        self.pattern = pattern
        self.short_name = short_name
        self.timeout = timeout


class TagError(RuleError):
    """One of the rule's tags rendered to something that is not a valid image tag."""

    def __init__(self, rule_name: str, index: int, message: str) -> None:
        super().__init__(rule_name, f"spec.tags[{index}]: {message}")
        self.index = index


class PlanBudgetExceeded(RuleError):
    """The push used up its matching budget on other rules' patterns before this rule's finished."""

    def __init__(self, rule_name: str, budget: float) -> None:
        super().__init__(
            rule_name,
            f"not matched: this push's {budget * 1000:g} ms pattern-matching budget ran out on the "
            "Repository's other pattern rules; simplify or remove slow patterns",
        )
        self.budget = budget
