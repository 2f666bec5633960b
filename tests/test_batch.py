"""pt2canon.batch: per-archive records mapped here, in processes and on a Dask cluster; the incremental index."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpus import Corpus, legacy_zip_bytes

from pt2canon import batch
from pt2canon.cli import main
from pt2canon.errors import InputError, UsageError

distributed = pytest.importorskip("distributed")

PAST = 1_600_000_000  # 2020: files written "long ago", outside the racy-mtime window


def _age(*paths: Path) -> None:
    for p in paths:
        os.utime(p, (PAST, PAST))


@pytest.fixture
def registry(corpus: Corpus, tmp_path: Path) -> Path:
    """A folder tree of archives: two copies of one program, the same in the older format, others, a broken file."""
    root = tmp_path / "registry"
    for rel, source in [
        ("team_a/mlp.pt2", corpus["mlp"].path),
        ("team_b/mlp_copy.pt2", corpus["mlp"].path),
        ("team_b/cond.pt2", corpus["cond"].path),
        ("team_c/effects.pt2", corpus["effects"].path),
    ]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, root / rel)
    (root / "team_c/mlp_legacy.pt2").write_bytes(legacy_zip_bytes(corpus["mlp"].ep))
    (root / "team_c/broken.pt2").write_bytes(b"PK\x03\x04 not really a zip")
    (root / "team_c/notes.txt").write_text("not an archive: not indexed")
    _age(*root.rglob("*.pt2"))
    return root


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0", silence_logs=50
    )
    with cluster, distributed.Client(cluster) as c:
        yield c


def _files(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*.pt2"))


def _cli_hash_json(root: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[dict[str, dict], list[str]]:
    code = main(["hash", "-r", "--json", *extra, str(root)])
    out, err = capsys.readouterr()
    assert code == 2  # the broken file
    records = [json.loads(line) for line in out.splitlines()]
    return {r["path"]: r for r in records}, [line.removeprefix("pt2canon: error: ") for line in err.splitlines()]


# -- per-archive functions on a cluster ----------------------------------------------------


@pytest.mark.parametrize("level", ["graph", "full"])
def test_digests_on_a_two_worker_cluster_equal_hash_r(
    registry: Path, client: object, capsys: pytest.CaptureFixture[str], level: str
) -> None:
    expected, errors = _cli_hash_json(registry, capsys, "--level", level)
    records = batch.map_archives(batch.digest_record, _files(registry), scheduler=client, level=level)
    assert [r["path"] for r in records] == _files(registry)
    good = {r["path"]: r for r in records if "error" not in r}
    assert good == expected
    assert [r["error"] for r in records if "error" in r] == errors
    # The cluster has the two workers the records were computed on.
    assert len(client.run(lambda: 1)) == 2  # type: ignore[attr-defined]


def test_a_scheduler_address_opens_a_client_for_the_call(registry: Path, client: object) -> None:
    address = client.scheduler.address  # type: ignore[attr-defined]
    here = batch.map_archives(batch.hash_record, _files(registry))
    assert batch.map_archives(batch.hash_record, _files(registry), scheduler=address) == here


def test_process_workers_over_tcp_compute_the_same_records(registry: Path) -> None:
    # Functions, options and records cross process boundaries here (pickled by dask).
    files = _files(registry)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=50
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
        remote = batch.map_archives(batch.index_record, files, scheduler=cluster.scheduler_address, audit=True)
    here = batch.map_archives(batch.index_record, files, audit=True)
    strip = [{k: v for k, v in r.items() if k != "indexed_ns"} for r in remote]
    assert strip == [{k: v for k, v in r.items() if k != "indexed_ns"} for r in here]


def test_local_processes_threads_and_the_cluster_give_the_same_records(registry: Path, client: object) -> None:
    files = _files(registry)
    serial = batch.map_archives(batch.hash_record, files, level="structure")
    assert batch.map_archives(batch.hash_record, files, workers=2, level="structure") == serial
    assert batch.map_archives(batch.hash_record, files, scheduler="threads", workers=2, level="structure") == serial
    assert batch.map_archives(batch.hash_record, files, scheduler=client, level="structure") == serial
    assert serial[files.index(str(registry / "team_a/mlp.pt2"))]["hash"].startswith("sha256:")


def test_audit_records_are_the_audit_reports(registry: Path, client: object) -> None:
    from pt2canon.audit import audit_path

    files = [f for f in _files(registry) if not f.endswith("broken.pt2")]
    records = batch.map_archives(batch.audit_record, files, scheduler=client)
    assert records == [audit_path(f).to_dict() for f in files]


def test_a_bad_file_is_a_record_with_its_error_line_not_an_exception(tmp_path: Path) -> None:
    (tmp_path / "empty.pt2").write_bytes(b"")
    (rec,) = batch.map_archives(batch.index_record, [tmp_path / "empty.pt2"])
    assert rec["error"] == f"{tmp_path / 'empty.pt2'}: file is empty; expected a .pt2 archive or a model JSON"
    assert rec["hash"] is None and rec["audit"] is None


def test_bad_scheduler_options_are_refused(registry: Path) -> None:
    with pytest.raises(UsageError, match=r"scheduler='nonsense' is not a Dask scheduler; pass a distributed.Client"):
        batch.map_archives(batch.hash_record, _files(registry), scheduler="nonsense")
    with pytest.raises(UsageError, match="workers=0 must be a positive number of processes"):
        batch.map_archives(batch.hash_record, _files(registry), workers=0)


def test_without_dask_a_dask_scheduler_is_a_clear_error() -> None:
    code = (
        "import sys; sys.modules['dask'] = None; sys.modules['dask.bag'] = None\n"
        "from pt2canon import batch\n"
        "from pt2canon.errors import MissingDependencyError\n"
        "try:\n    batch.map_archives(batch.hash_record, ['a.pt2'], scheduler='threads')\n"
        "except MissingDependencyError as exc:\n    print(exc)\n"
        "print(batch.map_archives(batch.hash_record, ['a.pt2'])[0]['error'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "needs dask" in out and "pip install 'pt2canon[dask]'" in out
    assert out.splitlines()[-1] == "a.pt2: no such file"  # without a scheduler, no dask is needed


# -- the index -----------------------------------------------------------------------------


def test_the_index_records_stat_hash_layers_and_audit_and_groups_equal_programs(registry: Path, client: object) -> None:
    update = batch.update_index(_files(registry), {}, scheduler=client)
    assert update.hashed == _files(registry) and not update.reused
    by_path = {r["path"]: r for r in update.records}
    mlp = by_path[str(registry / "team_a/mlp.pt2")]
    st = os.stat(registry / "team_a/mlp.pt2")
    assert (mlp["size"], mlp["mtime_ns"]) == (st.st_size, st.st_mtime_ns)
    assert mlp["hash"] == batch.hash_record(str(registry / "team_a/mlp.pt2"))["hash"]
    assert set(mlp["layers"]) >= {"structure", "signature", "tensors", "constraints"}
    assert mlp["audit"] == {"clean": True, "counts": {"high": 0, "medium": 0, "low": 0, "info": 0}}
    assert by_path[str(registry / "team_c/broken.pt2")]["error"].startswith(str(registry / "team_c/broken.pt2"))
    groups = batch.group_records(update.records)
    assert groups[0].paths == tuple(
        str(registry / p) for p in ("team_a/mlp.pt2", "team_b/mlp_copy.pt2", "team_c/mlp_legacy.pt2")
    )
    assert sorted(len(g.paths) for g in groups) == [1, 1, 3]  # cond, effects; the broken file is in no group


def test_a_second_run_skips_unchanged_files_and_regroups_after_a_change(
    registry: Path, corpus: Corpus, client: object, tmp_path: Path
) -> None:
    index = tmp_path / "hashes.jsonl"
    first = batch.update_index(_files(registry), {}, scheduler=client)
    batch.write_index(index, first.records)

    second = batch.update_index(_files(registry), batch.read_index(index), scheduler=client)
    broken = str(registry / "team_c/broken.pt2")
    assert second.hashed == [broken]  # errors are tried again; nothing else is read
    assert second.records == [
        {**r, "indexed_ns": s["indexed_ns"]} if r["path"] == broken else r
        for r, s in zip(first.records, second.records)
    ]

    # One copy of the MLP becomes another program; one file goes away.
    changed = registry / "team_b/mlp_copy.pt2"
    shutil.copyfile(corpus["dynamic_batch"].path, changed)
    _age(changed)
    os.utime(changed, (PAST + 60, PAST + 60))
    (registry / "team_b/cond.pt2").unlink()
    third = batch.update_index(_files(registry), {r["path"]: r for r in second.records}, scheduler=client)
    assert sorted(third.hashed) == sorted([broken, str(changed)])
    assert third.removed == [str(registry / "team_b/cond.pt2")]
    groups = {g.paths: g.hash for g in batch.group_records(third.records)}
    assert (str(registry / "team_a/mlp.pt2"), str(registry / "team_c/mlp_legacy.pt2")) in groups
    assert groups[(str(changed),)] == batch.hash_record(str(changed))["hash"]


def test_a_file_changed_within_the_mtime_resolution_is_hashed_again(registry: Path) -> None:
    path = registry / "team_a/mlp.pt2"
    now = time.time()
    os.utime(path, (now, now))  # as if written just now: the record is not trusted next time
    (rec,) = batch.update_index([path], {}).records
    again = batch.update_index([path], {str(path): rec})
    assert again.hashed == [str(path)]
    _age(path)
    (rec,) = batch.update_index([path], {}).records
    assert batch.update_index([path], {str(path): rec}).reused == [str(path)]


def test_another_level_or_option_hashes_every_file_again(registry: Path) -> None:
    files = [f for f in _files(registry) if "broken" not in f]
    previous = {r["path"]: r for r in batch.update_index(files, {}, audit=False).records}
    assert batch.update_index(files, previous, audit=False).reused == files
    assert batch.update_index(files, previous, level="full", audit=False).hashed == files
    assert batch.update_index(files, previous, audit=True).hashed == files
    assert batch.update_index(files, previous, audit=False, include_versions=True).hashed == files


def test_an_index_with_a_broken_line_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    index = tmp_path / "hashes.jsonl"
    index.write_text('{"path": "a.pt2"}\n{not json\n')
    with pytest.raises(InputError, match=r"hashes.jsonl: line 2 is not JSON .*; delete the file to rebuild the index"):
        batch.read_index(index)
    index.write_text('["a.pt2"]\n')
    with pytest.raises(InputError, match="line 1 is not an index record"):
        batch.read_index(index)
    assert batch.read_index(tmp_path / "none.jsonl") == {}
