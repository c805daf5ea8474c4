"""benchmarks/jobs_speed.py: the layouts it times, its cache of finished layouts, and its table."""

import sys

import pytest
from script_support import benchmark_script


@pytest.fixture(scope="module")
def script():
    return benchmark_script("jobs_speed")


@pytest.mark.parametrize("cores, jobs, parallel", [(2, 2, ("--jobs 2, 1 thread(s) each", "1")),
                                                   (16, 4, ("--jobs 4, 4 thread(s) each", "4")),
                                                   (1, 2, ("--jobs 2, 1 thread(s) each", "1"))])
def test_layouts_split_the_cores_between_the_jobs(script, cores, jobs, parallel):
    found = script.layouts(cores, jobs)
    assert list(found)[:2] == [f"sequential, {cores} threads", "sequential, 1 thread"]
    name, threads = parallel
    assert found[name] == ["--jobs", str(jobs), "--threads", threads]


def _runs_table(folder):
    (folder / "runs.csv").write_text("run,method,test_dice,median_epoch_seconds\n"
                                     "supervised-f0.1-s0,supervised,0.61234,4.812\n")


def test_a_timed_layout_records_its_runs_and_is_not_run_again(script, tmp_path):
    _runs_table(tmp_path)
    marker = tmp_path / "ran"
    command = [sys.executable, "-c", f"open({str(marker)!r}, 'a').write('x')"]
    first = script.time_layout(command, tmp_path)
    assert first["runs"] == {"supervised-f0.1-s0": {"test_dice": 0.6123, "median_epoch_s": 4.81}}
    assert first["wall_s"] >= 0
    again = script.time_layout(command, tmp_path)
    assert again == first and marker.read_text() == "x"  # the second call read the cache


def test_each_layout_compiles_into_an_empty_cache_of_its_own(script, tmp_path):
    seen = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        report = tmp_path / folder / "cache.txt"
        code = ("import os; c = os.environ['TORCHINDUCTOR_CACHE_DIR']; "
                f"open({str(report)!r}, 'w').write(c + ' ' + str(len(os.listdir(c))))")
        script.time_layout([sys.executable, "-c", code], tmp_path / folder)
        seen.append(report.read_text().split())
    assert seen[0][0] != seen[1][0] and seen[0][1] == seen[1][1] == "0"


def test_a_failed_layout_raises_and_caches_nothing(script, tmp_path):
    import subprocess

    with pytest.raises(subprocess.CalledProcessError):
        script.time_layout([sys.executable, "-c", "raise SystemExit(3)"], tmp_path)
    assert not (tmp_path / "wall_time.json").exists()


def test_table_compares_each_layout_with_the_fastest(script):
    run = {"aide-f0.1-s0": {"test_dice": 0.6, "median_epoch_s": 14.04}}
    records = {"sequential, 2 threads": {"wall_s": 300.0, "command": "a", "runs": run},
               "--jobs 2, 1 thread(s) each": {"wall_s": 200.0, "command": "b", "runs": run}}
    table = script.markdown(records, "test CPU", "python benchmarks/jobs_speed.py")
    assert "| sequential, 2 threads | 300 | 1.50 | aide-f0.1-s0 0.6000 / 14.0 |" in table
    assert "| --jobs 2, 1 thread(s) each | 200 | 1.00 | aide-f0.1-s0 0.6000 / 14.0 |" in table


def test_commands_are_recorded_as_a_user_types_them(script):
    assert script._as_typed([sys.executable, "-m", "aidemed", "bench", "table", "x"]) == ["aidemed", "bench", "table", "x"]
    assert script._as_typed(["echo", "hi"]) == ["echo", "hi"]
