"""The receiver's watch-fed cache (fed here as the watches feed it) and the rules' path filters."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from kiln.receiver.cache import LISTED_KINDS, Kind, ResourceCache
from kiln.rules import BuildPlan, MatchTimeout, PlanBudgetExceeded, Push
from kiln.webhooks.paths import PathFilter, glob_to_regex
from tests.unit.webhooks.objects import (
    NAMESPACE,
    SECRET,
    TENANT,
    build_rule,
    fed_cache,
    kubernetes_namespace,
    repository,
    secret,
    tenant,
)

PUSH = Push("refs/heads/main", "a" * 40, datetime(2024, 5, 1, tzinfo=UTC))


def rules_for(cache: ResourceCache, repo: str = "app") -> list[str]:
    return [build.rule.name for build in cache.plan(NAMESPACE, repo, PUSH).builds]


def test_ready_only_once_every_listed_kind_was_listed() -> None:
    cache = ResourceCache()
    assert Kind.SECRET not in LISTED_KINDS  # read by name (kiln.receiver.secrets), never listed
    for kind in LISTED_KINDS:
        assert not cache.ready
        cache.replace(kind, [])
    assert cache.ready
    assert cache.unsynced() == []


def test_watch_events_add_change_and_delete_rules() -> None:
    cache = fed_cache()
    cache.apply(Kind.BUILD_RULE, "ADDED", build_rule("main", branch="main"))
    assert rules_for(cache) == ["main"]
    cache.apply(Kind.BUILD_RULE, "MODIFIED", build_rule("main", branch="develop"))
    assert rules_for(cache) == []
    cache.apply(Kind.BUILD_RULE, "MODIFIED", build_rule("main", branch="main", repository="other"))
    assert (rules_for(cache), rules_for(cache, "other")) == ([], ["main"])  # moved, not duplicated
    cache.apply(Kind.BUILD_RULE, "DELETED", build_rule("main", branch="main", repository="other"))
    assert rules_for(cache, "other") == []
    assert cache.rule(NAMESPACE, "main") is None


def test_rules_are_per_kubernetes_namespace() -> None:
    cache = fed_cache(build_rule("main", branch="main", namespace="kiln-other"))
    assert rules_for(cache) == []
    assert [b.rule.name for b in cache.plan("kiln-other", "app", PUSH).builds] == ["main"]


def test_invalid_rule_is_left_out_and_replaces_a_valid_one() -> None:
    cache = fed_cache(build_rule("main", branch="main"))
    invalid = build_rule("main", branch="main")
    invalid["spec"]["tags"] = []  # at least one tag is required
    cache.apply(Kind.BUILD_RULE, "MODIFIED", invalid)
    assert rules_for(cache) == []


def test_relist_drops_what_was_deleted_while_disconnected() -> None:
    cache = fed_cache(build_rule("main", branch="main"), build_rule("also", branch="main"))
    cache.replace(Kind.BUILD_RULE, [build_rule("also", branch="main")])
    assert rules_for(cache) == ["also"]


def test_invalid_repository_spec_is_kept_with_every_problem_named() -> None:
    bad = repository()
    bad["spec"]["source"]["url"] = 5
    bad["spec"]["bogus"] = True
    bad["status"] = {"notAStatusField": 1}  # the operator's part: not the receiver's to judge
    entry = fed_cache(bad).repository(NAMESPACE, "app")
    assert entry is not None
    assert (
        entry.problem
        == "2 problems: spec.source.url: Input should be a valid string; spec.bogus: unknown field"
    )
    fine = repository()
    fine["status"] = {"notAStatusField": 1}
    fine_entry = fed_cache(fine).repository(NAMESPACE, "app")
    assert fine_entry is not None and fine_entry.problem is None


# Backtracks catastrophically on a short name of many a's and a final b.
SLOW_PATTERN = "(a|aa)+"
SLOW_PUSH = Push("refs/heads/" + "a" * 40 + "b", "a" * 40, datetime(2024, 5, 1, tzinfo=UTC))


def test_a_slow_plan_does_not_hold_the_lock() -> None:
    cache = fed_cache(build_rule("slow", pattern=SLOW_PATTERN), match_timeout=1.0, plan_budget=5.0)
    planned: list[BuildPlan] = []
    planner = threading.Thread(target=lambda: planned.append(cache.plan(NAMESPACE, "app", SLOW_PUSH)))
    planner.start()
    time.sleep(0.2)  # the planner is matching by now (for about a second)
    started = time.monotonic()
    cache.apply(Kind.BUILD_RULE, "ADDED", build_rule("main", branch="main"))
    assert cache.rule(NAMESPACE, "main") is not None  # readers are not held up either
    waited = time.monotonic() - started
    still_matching = planner.is_alive()
    planner.join()
    assert waited < 0.3, f"the writer waited {waited:.2f} s for the plan"
    assert still_matching, "the plan ended before the writer ran: the test proves nothing"
    (failure,) = planned[0].failures
    assert isinstance(failure.error, MatchTimeout)
    # the plan used the rules as they were when it started; the next one sees the new rule
    assert rules_for(cache) == ["main"]


def test_one_push_stops_matching_when_its_budget_is_spent() -> None:
    slow = [build_rule(f"slow-{i}", pattern=SLOW_PATTERN) for i in range(10)]
    fast = build_rule("z-fast", pattern="a+b")
    exact = build_rule("exact", branch=SLOW_PUSH.ref.removeprefix("refs/heads/"))
    cache = fed_cache(*slow, fast, exact, match_timeout=0.05, plan_budget=0.12)
    started = time.monotonic()
    plan = cache.plan(NAMESPACE, "app", SLOW_PUSH)
    elapsed = time.monotonic() - started
    assert elapsed < 0.3, f"10 slow patterns took {elapsed:.2f} s: the budget did not stop them"
    # exact names cost no matching: the budget never leaves them out
    assert [b.rule.name for b in plan.builds] == ["exact"]
    # every pattern rule is accounted for: timed out, or not (fully) tried within the budget
    errors = {f.rule.name: f.error for f in plan.failures}
    assert set(errors) == {f"slow-{i}" for i in range(10)} | {"z-fast"}
    assert isinstance(errors["slow-0"], MatchTimeout)
    assert isinstance(errors["z-fast"], PlanBudgetExceeded)
    assert "budget ran out" in str(errors["z-fast"])
    # a match cut short by the budget is not reported as the pattern's timeout
    cut = [e for e in errors.values() if isinstance(e, MatchTimeout)]
    assert all(e.timeout == 0.05 for e in cut) and 1 <= len(cut) <= 3


def test_tenant_resolution_follows_the_namespace_label() -> None:
    cache = fed_cache(tenant(), kubernetes_namespace())
    assert cache.tenant_namespace(TENANT) == NAMESPACE
    cache.apply(Kind.NAMESPACE, "MODIFIED", kubernetes_namespace(tenant=None))  # label removed
    assert cache.tenant_namespace(TENANT) is None
    cache.apply(Kind.NAMESPACE, "MODIFIED", kubernetes_namespace())
    cache.apply(Kind.TENANT, "DELETED", tenant())
    assert cache.tenant_namespace(TENANT) is None


def test_objects_being_deleted_take_no_deliveries() -> None:
    cache = fed_cache(tenant(), kubernetes_namespace(), repository())
    for kind, obj in ((Kind.REPOSITORY, repository()), (Kind.TENANT, tenant())):
        obj["metadata"]["deletionTimestamp"] = "2024-05-01T12:00:00Z"
        cache.apply(kind, "MODIFIED", obj)
    assert cache.repository(NAMESPACE, "app") is None
    assert cache.tenant_namespace(TENANT) is None


def test_repository_entry_defaults() -> None:
    cache = fed_cache(repository(secret_name=None))
    entry = cache.repository(NAMESPACE, "app")
    assert entry is not None
    assert (entry.provider, entry.auto_build, entry.secret_name, entry.secret_key, entry.problem) == (
        "github",
        True,
        "app-webhook",
        "token",
        None,
    )
    assert entry.gitee_mode == "signature"


def test_secret_values_are_decoded_on_read() -> None:
    bad = secret(name="bad")
    bad["data"]["token"] = "not base64!"
    cache = fed_cache(secret(), bad)
    assert cache.secret_value(NAMESPACE, "app-hook", "token") == SECRET.encode()
    assert cache.secret_value(NAMESPACE, "app-hook", "other") is None
    assert cache.secret_value(NAMESPACE, "bad", "token") is None
    cache.apply(Kind.SECRET, "DELETED", secret())
    assert cache.secret_value(NAMESPACE, "app-hook", "token") is None


def test_unknown_event_types_change_nothing() -> None:
    cache = fed_cache(build_rule("main", branch="main"))
    cache.apply(Kind.BUILD_RULE, "BOOKMARK", build_rule("other", branch="main"))
    assert rules_for(cache) == ["main"]


@pytest.mark.parametrize(
    ("glob", "path", "matches"),
    [
        ("docs/**", "docs/a/b.md", True),
        ("docs/**", "src/docs/a.md", False),
        ("docs/", "docs/index.md", True),
        ("*.md", "README.md", True),
        ("*.md", "docs/README.md", False),
        ("**/*.md", "README.md", True),
        ("**/*.md", "a/b/c.md", True),
        ("src/**/test_*.py", "src/test_a.py", True),
        ("src/**/test_*.py", "src/x/y/test_a.py", True),
        ("/Dockerfile", "Dockerfile", True),
        ("file?.txt", "file1.txt", True),
        ("file?.txt", "file/.txt", False),
        ("[ab].txt", "a.txt", True),
        ("[!ab].txt", "c.txt", True),
        ("[!ab].txt", "a.txt", False),
        ("[oops", "[oops", True),
        ("a+b(c).txt", "a+b(c).txt", True),
    ],
)
def test_globs(glob: str, path: str, matches: bool) -> None:
    assert (PathFilter.of([glob], []).skip_reason([path]) is None) is matches, glob_to_regex(glob)


def test_path_filters() -> None:
    both = PathFilter.of(["src/**"], ["src/docs/**"])
    assert both.skip_reason(["src/main.go"]) is None
    assert both.skip_reason(["README.md"]) == "no changed file matches spec.paths"
    assert both.skip_reason(["src/docs/a.md"]) == "every changed file matches spec.ignorePaths"
    assert both.skip_reason(["src/docs/a.md", "src/main.go"]) is None
    # a host that lists no files (or a tag on an existing commit): the filter cannot tell, so build
    assert both.skip_reason(None) is None
    assert both.skip_reason([]) is None
