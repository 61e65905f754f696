"""How the ``smtpsniff`` program ends (``smtpsniff.cli.run``): at once, without freeing what it read,
and with everything ``sys.exit`` would do that outlives the process -- the same output, files and
exit status as ``main`` called and ended the usual way, the exit handlers run, a running thread
waited for."""
from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

from corpus import ROOT

from smtpsniff import cli
from smtpsniff.analysis.capture import Capture
from smtpsniff.commands import common

SAMPLE = ROOT / "captures" / "smtp-sample.pcap"
ATTACKS = ROOT / "tests" / "data" / "smtp-auth-attacks.pcap"
#: ``main`` called, then the interpreter's usual end (what the program did before ``run``).
USUAL_END = "import sys; from smtpsniff.cli import main; sys.exit(main())"


#: The environment of the programs run here: with the standard streams buffered, as they are
#: unless PYTHONUNBUFFERED says otherwise (what is not flushed before the end is then lost).
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}


def _program(*args: str, code: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "smtpsniff"] if code is None else [sys.executable, "-c", code]
    return subprocess.run([*argv, *args], capture_output=True, timeout=300, cwd=cwd, env=ENV, check=False)


def test_same_output_files_and_status_as_the_usual_end(tmp_path):
    for fmt in ("csv", "json", "parquet", "zeek"):
        ours, usual = tmp_path / f"ours-{fmt}", tmp_path / f"usual-{fmt}"
        ours.mkdir()
        usual.mkdir()
        # each writes to "out" in its own folder: the summaries, which name it, can be the same
        args = ("analyze", str(SAMPLE), str(ATTACKS), "-o", "out", "--format", fmt)
        fast = _program(*args, cwd=ours)
        slow = _program(*args, code=USUAL_END, cwd=usual)
        assert fast.returncode == slow.returncode == 0, (fast.stderr, slow.stderr)
        # every line of the summary, the last ones too (the output is flushed before the end)
        assert fast.stdout == slow.stdout
        assert fast.stdout.rstrip().endswith(b"to out"), fast.stdout[-200:]
        assert fast.stderr == slow.stderr
        names = sorted(p.name for p in (ours / "out").iterdir())
        assert names == sorted(p.name for p in (usual / "out").iterdir()) and len(names) >= 2
        for name in names:
            assert (ours / "out" / name).read_bytes() == (usual / "out" / name).read_bytes(), name


def test_exit_status_of_unusable_input(tmp_path):
    broken = tmp_path / "broken.pcap"
    broken.write_bytes(b"not a capture at all")
    for args in (["analyze", str(broken)], ["analyze", str(tmp_path / "missing.pcap")], ["no-such-command"]):
        fast, slow = _program(*args), _program(*args, code=USUAL_END)
        assert fast.returncode == slow.returncode == 2, (args, fast.stderr)
        assert fast.stderr == slow.stderr


def _program_after(setup: str, *args: str) -> subprocess.CompletedProcess:
    """The program with ``args``, run by ``smtpsniff.cli.run`` after the Python code ``setup``."""
    return _program(*args, code=setup + "from smtpsniff.cli import run\nrun()\n")


def test_exit_handlers_run_and_their_output_is_flushed(tmp_path):
    mark = tmp_path / "handler.txt"
    # the handler also tells whether the capture is still there: the program does not free it
    proc = _program_after("import atexit, gc\n"
                          "def handler():\n"
                          "    kept = sum(type(o).__name__ == 'Capture' for o in gc.get_objects())\n"
                          f"    open({str(mark)!r}, 'w').write(f'ran, {{kept}} kept')\n"
                          "    print('handler said so')\n"
                          "atexit.register(handler)\n", "analyze", str(SAMPLE))
    assert proc.returncode == 0, proc.stderr
    assert mark.read_text() == "ran, 1 kept"
    assert proc.stdout.rstrip().endswith(b"handler said so")


def test_a_running_thread_is_waited_for(tmp_path):
    mark = tmp_path / "thread.txt"
    proc = _program_after("import threading, time\n"
                          f"def late():\n    time.sleep(1.0)\n    open({str(mark)!r}, 'w').write('done')\n"
                          "threading.Thread(target=late).start()\n", "analyze", str(SAMPLE))
    assert proc.returncode == 0, proc.stderr
    assert mark.read_text() == "done"


def test_a_reader_gone_early_ends_it_quietly():
    proc = subprocess.Popen([sys.executable, "-m", "smtpsniff", "analyze", str(SAMPLE), str(ATTACKS)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline()
    proc.stdout.close()  # the summary's reader goes away, as `| head -1` does
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0
    assert b"Traceback" not in err and b"Exception ignored" not in err, err


def _captures() -> set[int]:
    gc.collect()
    return {id(o) for o in gc.get_objects() if type(o) is Capture}


def test_main_as_a_function_keeps_nothing(capsys):
    before = _captures()  # (other tests' own)
    assert common.KEPT_UNTIL_EXIT is None
    assert cli.main(["analyze", str(SAMPLE)]) == 0
    assert "SMTP sessions" in capsys.readouterr().out
    assert common.KEPT_UNTIL_EXIT is None
    assert _captures() <= before  # what it read is freed
