"""Every rule of the shipped knowledge base is exercised by a bundled example patient."""
from support import example_files, shipped_kb


def _fired_rules():
    kb = shipped_kb()
    fired: dict[str, str] = {}
    for path in example_files():
        for patient in kb.patients(path):
            ev = kb.run(patient)
            for rule_id, node in kb.compiled.rule_node.items():
                if ev.value(node) is True:
                    fired.setdefault(rule_id, patient.source)
    return fired


def test_every_rule_fires_for_some_example_patient():
    kb = shipped_kb()
    fired = _fired_rules()
    never = [r.id for r in kb.compiled.checked.rules if r.id not in fired]
    assert never == [], f"rules no example in examples/patients/ exercises: {never}"
