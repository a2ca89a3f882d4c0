"""The JSON contract (CONTRACT.md §4) as pydantic models.

These are the typed results of the Python API and the exact shape of ``--format json``;
``oncologic schema`` prints their JSON Schema. Fields may be added, never renamed.
"""
from __future__ import annotations

from typing import Any, Optional, Union

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_json(self, **kw) -> str:
        return self.model_dump_json(**kw)


class SourceRef(Model):
    document: Optional[str] = None
    locator: Optional[str] = None
    title: Optional[str] = None


class RuleRef(Model):
    id: str
    file: str
    line: int


class Recommendation(Model):
    id: str
    items: list[str]
    setting: Optional[str] = None
    strength: Optional[str] = None
    evidence: Optional[str] = None
    consensus: Optional[Union[int, float]] = None
    grade: Optional[str] = None
    source: SourceRef
    sources: list[SourceRef] = []
    rule: RuleRef
    notes: list[str] = []
    labels: dict[str, str] = {}


class NotRecommended(Model):
    id: str
    items: list[str]
    setting: Optional[str] = None
    evidence: Optional[str] = None
    consensus: Optional[Union[int, float]] = None
    source: SourceRef
    rule: RuleRef
    reason: Optional[str] = None
    notes: list[str] = []


class Contraindicated(Model):
    id: str
    items: list[str]
    reason: Optional[str] = None
    rule: RuleRef = Field(description="the contraindication that removed it")
    source: SourceRef
    recommended_by: Recommendation = Field(description="the recommendation it removed")


class Missing(Model):
    attribute: str
    needed_for: list[str]


class Possible(Model):
    id: str
    items: list[str]
    missing: list[str]
    recommendation: Recommendation


class Result(Model):
    patient: str
    derived: list[str]
    recommendations: list[Recommendation]
    not_recommended: list[NotRecommended]
    contraindicated: list[Contraindicated]
    missing: list[Missing]
    possible: list[Possible] = []


class Quantity(Model):
    value: Any = None
    unit: Optional[str] = None
    as_written: Optional[str] = None
    derived_from: Optional[dict[str, Any]] = None


class Condition(Model):
    attribute: Optional[str] = None
    concept: Optional[str] = None
    op: str
    expected: Optional[Quantity] = None
    actual: Optional[Quantity] = None
    holds: Optional[bool] = None
    text: str


class ProofNode(Model):
    conclusion: str
    kind: str
    rule: RuleRef
    source: SourceRef
    conditions: list[Condition] = []
    children: list["ProofNode"] = []
    strength: Optional[str] = None
    evidence: Optional[str] = None
    consensus: Optional[Union[int, float]] = None


class Explanation(Model):
    goal: str
    holds: bool
    proof: Optional[ProofNode] = None
    alternatives: list[ProofNode] = []
    removed_by: list["Removal"] = []


class Removal(Model):
    rule: RuleRef
    reason: Optional[str] = None
    source: SourceRef
    proof: Optional[ProofNode] = None


class Attempt(Model):
    conclusion: str
    rule: RuleRef
    source: SourceRef
    holds: Optional[bool] = None
    failed: list[Condition] = []
    missing: list[str] = []
    children: list[Union["Attempt", ProofNode]] = []
    removed_by: list[Removal] = []


class WhyNot(Model):
    goal: str
    holds: bool
    attempts: list[Attempt] = []
    proof: Optional[ProofNode] = None


ProofNode.model_rebuild()
Explanation.model_rebuild()
Attempt.model_rebuild()
