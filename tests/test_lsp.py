"""The language server (``oncologic lsp``), driven as an editor drives it: a real subprocess
speaking LSP over stdio to pygls's client. One server session (in a temporary copy of the
shipped knowledge base) serves every assertion of the session tests; the overlay of unsaved
text on the front end is tested in-process."""
from __future__ import annotations

import asyncio
import json
import subprocess
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from support import ROOT

pytest.importorskip("pygls")
from lsprotocol import types as t  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402
from pygls.uris import from_fs_path  # noqa: E402

GOOD_FOR = "  for refractory_sclc_second_line\n"
BROKEN_FOR = "  for refractory_sclc_second_lin\n"
NEVER = '\nconcept never_true\n  if histology = sclc and histology = squamous\n  source imforte "x"\n'


def _copy(tmp: Path) -> Path:
    shutil.copytree(ROOT / "facts", tmp / "facts", ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return tmp / "facts"


def _position_after(text: str, needle: str) -> t.Position:
    """The position just after the first ``needle`` in ``text``."""
    at = text.index(needle) + len(needle)
    line = text.count("\n", 0, at)
    return t.Position(line=line, character=at - (text.rfind("\n", 0, at) + 1))


async def _session(tmp: Path) -> dict:
    kb = _copy(tmp)
    sclc, refractory = kb / "lung" / "sclc.rules", kb / "lung" / "refractory.rules"
    good = sclc.read_text(encoding="utf-8")
    broken = good.replace(GOOD_FOR, BROKEN_FOR, 1)
    sclc_uri, refractory_uri = from_fs_path(str(sclc)), from_fs_path(str(refractory))
    published: dict[str, list[list[t.Diagnostic]]] = {}
    client = LanguageClient("oncologic-test", "1")

    @client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: t.PublishDiagnosticsParams):
        published.setdefault(params.uri, []).append(params.diagnostics)

    async def until(predicate, what: str, timeout: float = 8.0):
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what}; published: {published}")
            await asyncio.sleep(0.02)

    env = {**os.environ, "ONCOLOGIC_CACHE_DIR": str(tmp / "cache")}
    env.pop("ONCOLOGIC_NO_CACHE", None)
    await client.start_io(sys.executable, "-m", "oncologic", "lsp", env=env)
    out: dict = {"sclc_uri": sclc_uri, "kb": kb, "tmp": tmp}
    try:
        init = await client.initialize_async(t.InitializeParams(
            capabilities=t.ClientCapabilities(), root_uri=from_fs_path(str(tmp)),
            workspace_folders=[t.WorkspaceFolder(uri=from_fs_path(str(tmp)), name="tmp")]))
        out["capabilities"] = init.capabilities
        client.initialized(t.InitializedParams())

        client.text_document_did_open(t.DidOpenTextDocumentParams(
            text_document=t.TextDocumentItem(uri=sclc_uri, language_id="oncologic", version=1, text=broken)))
        await until(lambda: published.get(sclc_uri), "the diagnostics of the broken file")
        out["broken"] = published[sclc_uri][-1]
        out["others"] = {uri: runs[-1] for uri, runs in published.items() if uri != sclc_uri}

        client.text_document_did_change(t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=sclc_uri, version=2),
            content_changes=[t.TextDocumentContentChangeWholeDocument(text=good)]))
        await until(lambda: len(published[sclc_uri]) > 1, "the diagnostics after the fix")
        out["fixed"] = published[sclc_uri][-1]

        # a concept no patient satisfies: the analysis (W401) runs on save, not on a change
        saved = good + NEVER
        sclc.write_text(saved, encoding="utf-8")
        client.text_document_did_change(t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=sclc_uri, version=3),
            content_changes=[t.TextDocumentContentChangeWholeDocument(text=saved)]))
        await until(lambda: len(published[sclc_uri]) > 2, "the diagnostics after a change")
        out["changed"] = published[sclc_uri][-1]
        client.text_document_did_save(t.DidSaveTextDocumentParams(
            text_document=t.TextDocumentIdentifier(uri=sclc_uri)))
        await until(lambda: len(published[sclc_uri]) > 3, "the diagnostics after saving")
        out["saved"] = published[sclc_uri][-1]

        text = refractory.read_text(encoding="utf-8")
        client.text_document_did_open(t.DidOpenTextDocumentParams(
            text_document=t.TextDocumentItem(uri=refractory_uri, language_id="oncologic", version=1, text=text)))
        tfi = _position_after(text, "and tfi")
        out["hover"] = await client.text_document_hover_async(t.HoverParams(
            text_document=t.TextDocumentIdentifier(uri=refractory_uri), position=t.Position(line=tfi.line, character=tfi.character - 1)))
        out["completion"] = await client.text_document_completion_async(t.CompletionParams(
            text_document=t.TextDocumentIdentifier(uri=refractory_uri), position=_position_after(text, "and histology = ")))
        concept = _position_after(good, "  if refractory_sclc")
        out["definition"] = await client.text_document_definition_async(t.DefinitionParams(
            text_document=t.TextDocumentIdentifier(uri=sclc_uri), position=t.Position(line=concept.line, character=concept.character - 2)))
        setting = _position_after(good, "  for refractory_sclc_second")
        out["for_definition"] = await client.text_document_definition_async(t.DefinitionParams(
            text_document=t.TextDocumentIdentifier(uri=sclc_uri), position=setting))

        out["features"] = await _features(client, kb)

        await client.shutdown_async(None)
        client.exit(None)
        await asyncio.wait_for(client._server.wait(), 5)
        out["returncode"] = client._server.returncode
    finally:
        if client._server is not None and client._server.returncode is None:
            client._server.kill()
        await client.stop()
    return out


SCRATCH = ("concept scratch_c  # cancer = hcc\n"
           "  id scratch_c.one\n"
           "  if cancer = hcc and histology = sclc and any adverse_events where (type = colitis and grade >= 3)\n"
           '  source imforte "中文 x"\n')
COMPLETE = ("recommendation scratch_r\n"
            "  recommend topotecan + \n"
            "  strength \n"
            "  evidence \n"
            "  if histology is \n"
            "  if tfi < \n"
            "  if any adverse_events where (\n"
            "  if any adverse_events where (cause = \n"
            "  if \n"
            '  source imforte "Table \n'
            "  # a comment \n"
            "attribute foo: \n")


async def _features(client: LanguageClient, kb: Path) -> dict:
    """Hover, definition and completion in context, in two scratch files of the knowledge base."""
    out: dict = {}
    scratch, complete = kb / "lung" / "scratch.rules", kb / "lung" / "complete.rules"
    for path, text in ((scratch, SCRATCH), (complete, COMPLETE)):
        client.text_document_did_open(t.DidOpenTextDocumentParams(text_document=t.TextDocumentItem(
            uri=from_fs_path(str(path)), language_id="oncologic", version=1, text=text)))
    doc = t.TextDocumentIdentifier(uri=from_fs_path(str(scratch)))

    async def hover(needle: str, back: int = 1):
        at = _position_after(SCRATCH, needle)
        found = await client.text_document_hover_async(t.HoverParams(
            text_document=doc, position=t.Position(line=at.line, character=at.character - back)))
        return found and found.contents.value

    async def definition(needle: str):
        at = _position_after(SCRATCH, needle)
        found = await client.text_document_definition_async(t.DefinitionParams(
            text_document=doc, position=t.Position(line=at.line, character=at.character - 1)))
        return [(Path(loc.uri).name, loc.range.start.line) for loc in found or ()]

    out["hover"] = {what: await hover(needle) for what, needle in [
        ("comment", "# cancer = hcc"), ("value", "if cancer = hcc"), ("enum", "histology = sclc"),
        ("field", "where (type"), ("field value", "type = colitis"), ("rule id", "id scratch_c.one"),
        ("source text", "中文 x")]}
    out["definition"] = {what: await definition(needle) for what, needle in [
        ("value", "if cancer = hcc"), ("enum", "histology = sclc"), ("field", "where (type")]}
    sclc = (kb / "lung" / "sclc.rules").read_text(encoding="utf-8")
    head = _position_after(sclc, "recommendation sclc.second_line.chemo.topo")
    found = await client.text_document_hover_async(t.HoverParams(
        text_document=t.TextDocumentIdentifier(uri=from_fs_path(str(kb / "lung" / "sclc.rules"))), position=head))
    out["hover"]["recommendation"] = found and found.contents.value
    out["completion"] = {}
    lines = COMPLETE.split("\n")
    for number, line in enumerate(lines[:-1]):
        found = await client.text_document_completion_async(t.CompletionParams(
            text_document=t.TextDocumentIdentifier(uri=from_fs_path(str(complete))),
            position=t.Position(line=number, character=len(line))))
        out["completion"][line.strip()] = [i.label for i in found.items] if found else []
    return out


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    started = time.monotonic()
    out = asyncio.run(_session(tmp_path_factory.mktemp("lsp")))
    out["seconds"] = time.monotonic() - started
    return out


def test_broken_file_gets_the_diagnostic_check_gives(session):
    """The E106 of an unknown setting, at the name (0-based), as ``check`` reports it on the
    same text saved to disk."""
    from oncologic.compile.build import diagnose
    [d] = session["broken"]
    assert (d.code, d.source, d.severity) == ("E106", "oncologic", t.DiagnosticSeverity.Error)
    assert d.message.startswith("unknown setting 'refractory_sclc_second_lin'; did you mean 'refractory_sclc_second_line'")
    assert (d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character) == (18, 6, 18, 32)
    # the same as the front end of `check` on a folder with the broken file saved
    saved = _copy(session["tmp"] / "saved")
    path = saved / "lung" / "sclc.rules"
    path.write_text(path.read_text(encoding="utf-8").replace(GOOD_FOR, BROKEN_FOR, 1), encoding="utf-8")
    [c] = diagnose(saved)[1]
    assert (c.code, c.line - 1, c.column - 1, c.end_line - 1, c.end_column - 1, c.message) == (
        d.code, d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character, d.message)


def test_every_rule_file_of_the_folder_is_published(session):
    """The other files of the knowledge base get their (empty) diagnostics too."""
    kb = session["kb"]
    expected = {from_fs_path(str(p)) for p in kb.rglob("*.rules")} - {session["sclc_uri"]}
    assert set(session["others"]) == expected
    assert {uri: [d.message for d in ds] for uri, ds in session["others"].items() if ds} == {}


def test_fixing_the_file_clears_its_diagnostics(session):
    assert list(session["fixed"]) == []


def test_static_analysis_runs_on_save_only(session):
    assert list(session["changed"]) == []
    found = {(d.code, d.severity, d.range.start.line, d.message) for d in session["saved"]}
    assert found == {  # as `check` reports them
        ("W401", t.DiagnosticSeverity.Warning, 113, "concept 'never_true' can never hold: no patient satisfies its condition"),
        ("W503", t.DiagnosticSeverity.Warning, 113, "concept 'never_true' is concluded but no rule uses it")}
    [w401] = [d for d in session["saved"] if d.code == "W401"]
    assert w401.source == "oncologic"


def test_hover_on_an_attribute(session):
    hover = session["hover"].contents.value
    assert hover.startswith("**tfi** — attribute: `duration 0d..`")
    assert "一线标准治疗结束到疾病进展的时间间隔" in hover and "treatment-free interval" in hover
    assert "derived: progression_date - first_line_end_date" in hover
    assert "defined at facts/lung/patient.rules:18" in hover


def test_completion_after_an_enum_comparison_offers_its_values(session):
    items = {i.label: i for i in session["completion"].items}
    assert set(items) == {"sclc", "adenocarcinoma", "squamous", "large_cell", "nsclc_nos"}
    assert items["sclc"].detail == "small cell lung cancer / 小细胞肺癌"
    assert items["sclc"].kind == t.CompletionItemKind.EnumMember


def test_definition_of_a_concept_and_of_a_setting(session):
    kb = session["kb"]
    refractory = from_fs_path(str(kb / "lung" / "refractory.rules"))
    lines = (kb / "lung" / "refractory.rules").read_text(encoding="utf-8").split("\n")
    defining = [i for i, line in enumerate(lines) if line.startswith("concept refractory_sclc") and line.split()[1] == "refractory_sclc"]
    assert defining == [8, 26]  # two rules define it: both are definitions
    assert [(loc.uri, loc.range.start.line, loc.range.start.character) for loc in session["definition"]] == [
        (refractory, line, 0) for line in defining]
    [setting] = session["for_definition"]
    assert (setting.uri, setting.range.start.line) == (session["sclc_uri"], 4)


def test_session_shuts_down_cleanly_and_quickly(session):
    assert session["returncode"] == 0
    assert session["seconds"] < 15
    # an overlaid build neither writes nor reads the cache: its key is the files on disk
    cache = session["tmp"] / "cache"
    assert not cache.exists() or not any(cache.rglob("kb-*.json"))


def test_overlay_reads_unsaved_text_and_leaves_the_cache_alone(tmp_path, monkeypatch):
    from oncologic.compile.build import diagnose
    monkeypatch.setenv("ONCOLOGIC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ONCOLOGIC_NO_CACHE", raising=False)
    kb = _copy(tmp_path)
    sclc = kb / "lung" / "sclc.rules"
    broken = sclc.read_text(encoding="utf-8").replace(GOOD_FOR, BROKEN_FOR, 1)
    compiled, found = diagnose(kb, overlay={sclc: broken})
    assert compiled is None and [(d.code, d.line, d.column) for d in found] == [("E106", 19, 7)]
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("kb-*.json"))
    new = kb / "lung" / "draft.rules"  # not on disk yet: counts as a rule file of the folder
    _, found = diagnose(kb, overlay={new: "concept draft if no_such_attribute\n"})
    assert found and all(d.file.endswith("draft.rules") for d in found)
    assert "unknown concept 'no_such_attribute'" in " ".join(d.message for d in found if d.code == "E102")
    compiled, found = diagnose(kb)  # the disk is untouched: it compiles, and now fills the cache
    assert compiled is not None and found == []
    assert len(list((tmp_path / "cache").rglob("kb-*.json"))) == 1


def test_lsp_without_pygls_exits_2_saying_how_to_install(monkeypatch):
    from oncologic.cli import main
    for name in [m for m in sys.modules if m.startswith("pygls.")]:
        monkeypatch.delitem(sys.modules, name)  # as on a machine where pygls was never installed
    monkeypatch.setitem(sys.modules, "pygls", None)
    import oncologic.authoring
    monkeypatch.delitem(sys.modules, "oncologic.authoring.lsp", raising=False)
    monkeypatch.delattr(oncologic.authoring, "lsp", raising=False)  # imported by an earlier test
    result = CliRunner().invoke(main, ["lsp"])
    assert result.exit_code == 2
    assert "pip install 'oncologic[lsp]'" in result.output
    assert "Traceback" not in result.output


def test_hover_in_context(session):
    """A value after ``ATTR =`` is the attribute's value (``hcc`` of ``cancer``, not the concept
    hcc); a field and its value inside ``any LIST where (...)``; a rule id; nothing in a comment
    or a string; a recommendation with its condition and grading."""
    hover = session["features"]["hover"]
    assert hover["comment"] is None and hover["source text"] is None
    assert hover["value"].startswith("**hcc** — value of `cancer` (`enum lung, hcc`)")
    assert "- en: hepatocellular carcinoma" in hover["value"] and "- zh: 肝细胞癌" in hover["value"]
    assert "defined at facts/common/patient.rules:6" in hover["value"]
    assert hover["enum"].startswith("**sclc** — value of `histology`") and "小细胞肺癌" in hover["enum"]
    assert hover["field"].startswith("**type** — field of `adverse_events`: `enum hepatitis, colitis,")
    assert hover["field value"].startswith("**colitis** — value of `adverse_events.type`")
    assert hover["rule id"].startswith("**scratch_c.one** — concept `scratch_c`")
    assert "if `cancer = hcc and histology = sclc and any adverse_events where" in hover["rule id"]
    rec = hover["recommendation"]
    assert rec.startswith("**sclc.second_line.chemo.topotecan** — recommendation")
    assert "if `refractory_sclc_second_line" in rec and "recommend topotecan" in rec
    assert "strength strong, evidence I, consensus 92%" in rec
    assert 'source consensus_refractory_lung "Table 3 (强推荐, 化疗); §三(一)1"' in rec


def test_definition_in_context(session):
    assert session["features"]["definition"] == {
        "value": [("patient.rules", 5)], "enum": [("patient.rules", 2)], "field": [("patient.rules", 25)]}


def test_completion_in_context(session):
    got = session["features"]["completion"]
    assert "topotecan" not in got["recommend topotecan +"] and "amrubicin" in got["recommend topotecan +"]
    assert got["strength"] == ["moderate", "strong", "weak"]
    assert got["evidence"] == ["I", "II", "III", "IV", "V"]
    assert got["if histology is"] == ["known", "empty"]  # the grammar's words after `is`, not items
    assert got["if tfi <"] == []
    assert got["if any adverse_events where ("][:3] == ["type", "grade", "cause"]
    assert got["if any adverse_events where (cause ="] == ["immune", "targeted", "local", "unknown"]
    assert {"histology", "refractory_sclc", "not", "any"} <= set(got["if"])
    assert not {"recommendation", "strength", "source", "topotecan"} & set(got["if"])
    assert got['source imforte "Table'] == [] and got["# a comment"] == []
    assert got["attribute foo:"][:3] == ["enum", "int", "number"]


def test_completion_triggers_not_on_space(session):
    assert " " not in session["capabilities"].completion_provider.trigger_characters


ENCODED = ("attribute histology: enum sclc, nsclc\n"
           'concept c1 label zh "肺癌𠀀" if histology = sclc  concept c2 label zh "𠀀" if c1 and bogus_x\n')


def _units(text: str, encoding: str) -> int:
    return len(text.encode({"utf-8": "utf-8", "utf-16": "utf-16-le", "utf-32": "utf-32-le"}[encoding])) // {
        "utf-8": 1, "utf-16": 2, "utf-32": 4}[encoding]


async def _encoded(tmp: Path, encoding: str) -> dict:
    (tmp / "kb").mkdir(exist_ok=True)
    path = tmp / "kb" / "x.rules"
    path.write_text(ENCODED, encoding="utf-8")
    uri, published = from_fs_path(str(path)), []
    client = LanguageClient("oncologic-test", "1")
    client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)(lambda params: published.append(params))
    await client.start_io(sys.executable, "-m", "oncologic", "lsp", env={**os.environ, "ONCOLOGIC_NO_CACHE": "1"})
    try:
        init = await client.initialize_async(t.InitializeParams(capabilities=t.ClientCapabilities(
            general=t.GeneralClientCapabilities(position_encodings=[encoding]))))
        client.initialized(t.InitializedParams())
        client.text_document_did_open(t.DidOpenTextDocumentParams(text_document=t.TextDocumentItem(
            uri=uri, language_id="oncologic", version=1, text=ENCODED)))
        end = time.monotonic() + 8
        while not any(p.uri == uri for p in published) and time.monotonic() < end:
            await asyncio.sleep(0.02)
        line = ENCODED.split("\n")[1]
        doc = t.TextDocumentIdentifier(uri=uri)
        at = lambda needle, back=1: t.Position(line=1, character=_units(line[:line.index(needle) + len(needle)], encoding) - back)  # noqa: E731
        hover = await client.text_document_hover_async(t.HoverParams(text_document=doc, position=at("= sclc")))
        attr = await client.text_document_hover_async(t.HoverParams(text_document=doc, position=at("if histology")))
        defn = await client.text_document_definition_async(t.DefinitionParams(text_document=doc, position=at("concept c2")))
        await client.shutdown_async(None)
        client.exit(None)
        await asyncio.wait_for(client._server.wait(), 5)
    finally:
        if client._server is not None and client._server.returncode is None:
            client._server.kill()
        await client.stop()
    [diags] = [p.diagnostics for p in published if p.uri == uri][-1:]
    return {"encoding": init.capabilities.position_encoding, "diagnostics": diags, "hover": hover.contents.value,
            "attr": attr.contents.value, "definition": defn, "line": line, "version": published[-1].version}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_positions_in_the_negotiated_encoding(tmp_path, encoding):
    """Columns after Chinese and a character outside the BMP, in the client's units: the
    diagnostic's range, hover and definition."""
    got = asyncio.run(_encoded(tmp_path, encoding))
    line = got["line"]
    assert got["encoding"] == encoding
    [e102] = [d for d in got["diagnostics"] if d.code == "E102"]
    start = _units(line[:line.index("bogus_x")], encoding)
    assert (e102.range.start.line, e102.range.start.character, e102.range.end.character) == (1, start, start + 7)
    assert got["hover"].startswith("**sclc** — value of `histology`")
    assert got["attr"].startswith("**histology** — attribute")
    [loc] = got["definition"]
    assert (loc.range.start.line, loc.range.start.character) == (1, _units(line[:line.index("concept c2")], encoding))
    assert got["version"] == 1  # the document version the diagnostics were computed for


def test_kb_folder_is_the_knowledge_base_meant(tmp_path):
    """Parts (rule files, none in a subfolder) go together one level up; a workspace holding two
    knowledge bases and a lone folder is never one; with or without a workspace root."""
    from oncologic.authoring.lsp import kb_folder
    for kb in ("kbA", "kbB"):
        for part in ("common", "lung"):
            (tmp_path / kb / part).mkdir(parents=True)
            (tmp_path / kb / part / "a.rules").write_text("")
    (tmp_path / "lone").mkdir()
    (tmp_path / "lone" / "x.rules").write_text("")
    sclc = tmp_path / "kbA" / "lung" / "a.rules"
    for root in (tmp_path, None, tmp_path / "kbA" / "lung"):
        assert kb_folder(sclc, root) == (tmp_path / "kbA").resolve()
        assert kb_folder(tmp_path / "lone" / "x.rules", root) == (tmp_path / "lone").resolve()
    assert kb_folder(sclc, tmp_path / "kbA" / "common") == (tmp_path / "kbA" / "lung").resolve()  # outside the root


def _frame(obj) -> bytes:
    body = json.dumps(obj).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def test_protocol_robustness(tmp_path):
    """Bad params: an InvalidParams response; a change or hover for a document never opened: no
    error shown; ``kb`` not a path: a warning shown, and initialize answers; exit without
    shutdown: exit code 1."""
    (tmp_path / "x.rules").write_text("attribute a: bool\n")
    uri = from_fs_path(str(tmp_path / "x.rules"))
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "processId": None, "rootUri": from_fs_path(str(tmp_path)), "capabilities": {}, "initializationOptions": {"kb": 5}}},
        {"jsonrpc": "2.0", "method": "initialized", "params": {}},
        {"jsonrpc": "2.0", "id": 2, "method": "textDocument/hover", "params": {"bogus": 1}},
        {"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
            "textDocument": {"uri": uri.replace("x.rules", "never.rules"), "version": 2}, "contentChanges": [{"text": "x"}]}},
        {"jsonrpc": "2.0", "id": 3, "method": "textDocument/hover", "params": {
            "textDocument": {"uri": uri}, "position": {"line": 0, "character": 11}}},
        {"jsonrpc": "2.0", "method": "exit"}]
    proc = subprocess.run([sys.executable, "-m", "oncologic", "lsp"], input=b"".join(_frame(m) for m in messages),
                          capture_output=True, timeout=30)
    out = [json.loads(part.split(b"\r\n\r\n", 1)[1]) for part in proc.stdout.split(b"Content-Length")[1:]]
    assert proc.returncode == 1
    by_id = {m["id"]: m for m in out if "id" in m}
    assert "result" in by_id[1]
    assert by_id[2]["error"]["code"] == -32602
    assert by_id[3]["result"]["contents"]["value"].startswith("**a** — attribute: `bool`")  # read from disk
    shown = [m["params"] for m in out if m.get("method") == "window/showMessage"]
    assert [(s["type"], s["message"][:47]) for s in shown] == [(2, "oncologic: the kb setting must be a folder path")]
