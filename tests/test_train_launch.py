"""`lmkit train --nproc N` starts its processes itself: errors said once in one line, signals passed on once,
a rank that fails alone stops the others and is the one heard."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import assert_one_line_error
from faults.fault_helpers import interruptible
from lmkit.commands import train_launch
from lmkit.commands.train_launch import stopped_by_signal, wait

PYTHON = [sys.executable, "-c"]


def start(code: str) -> subprocess.Popen:
    return subprocess.Popen([*PYTHON, code], preexec_fn=os.setpgrp)


SAVES_ON_SIGNAL = ("import signal, sys, time\n"
                   "signal.signal(signal.SIGINT, lambda *a: sys.exit(130))\n"
                   "signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))\n"
                   "time.sleep(60)\n")


@pytest.fixture
def quick(monkeypatch):
    monkeypatch.setattr(train_launch, "SETTLE_SECONDS", 0.5)
    monkeypatch.setattr(train_launch, "GRACE_SECONDS", 5.0)


def test_a_rank_failing_alone_stops_the_others_and_is_reported(quick):
    processes = [start(SAVES_ON_SIGNAL), start("import sys; sys.exit(3)")]
    began = time.monotonic()
    assert wait(processes, []) == {1: 3}  # rank 0 was stopped by the launcher: not a failure of its own
    assert processes[0].returncode == 143 and time.monotonic() - began < 30


def test_a_rank_killed_stops_the_others_at_once(monkeypatch):
    monkeypatch.setattr(train_launch, "SETTLE_SECONDS", 60.0)  # a refusal's settling time is not waited for
    processes = [start(SAVES_ON_SIGNAL), start("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")]
    began = time.monotonic()
    assert wait(processes, []) == {1: -signal.SIGKILL} and time.monotonic() - began < 30
    assert processes[0].returncode == 143


def test_ranks_refusing_the_same_option_are_all_failures_of_their_own(quick):
    processes = [start("import sys, time; time.sleep(0.2); sys.exit(1)"), start("import sys; sys.exit(1)")]
    assert wait(processes, []) == {1: 1, 0: 1}


def test_a_rank_that_will_not_stop_is_killed_after_the_grace_period(quick, monkeypatch):
    monkeypatch.setattr(train_launch, "GRACE_SECONDS", 0.5)
    stubborn = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)\n"
    processes = [start(stubborn), start("import sys; sys.exit(2)")]
    assert wait(processes, []) == {1: 2} and processes[0].returncode == -signal.SIGKILL


def test_a_signal_to_the_launcher_reaches_each_rank_once():
    counting = ("import signal, sys, time\n"
                "seen = []\n"
                "def handler(signum, frame):\n"
                "    seen.append(signum)\n"
                "signal.signal(signal.SIGINT, handler)\n"
                "time.sleep(1.5)\n"
                "sys.exit(100 + len(seen))\n")
    processes = [start(counting), start(counting)]
    time.sleep(0.5)  # both have their handler
    assert wait(processes, [signal.SIGINT]) == {}  # stopped by a signal: no failure of their own
    assert stopped_by_signal(processes, signal.SIGINT) == 101  # rank 0's code
    assert [p.returncode for p in processes] == [101, 101]


def test_after_a_signal_a_rank_left_running_when_rank_0_has_ended_is_killed(quick, capsys):
    """Rank 1 still joining the group when rank 0 saved and left (it blocks in C++, deaf to SIGTERM)."""
    deaf = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)\n"
    processes = [start(SAVES_ON_SIGNAL), start(deaf)]
    time.sleep(0.5)
    began = time.monotonic()
    assert wait(processes, [signal.SIGTERM]) == {}
    assert processes[1].returncode == -signal.SIGKILL and time.monotonic() - began < 4  # SETTLE_SECONDS 0.5
    assert stopped_by_signal(processes, signal.SIGTERM) == 143
    assert capsys.readouterr().err == "error: SIGTERM: process 1 of 2 did not stop and was killed\n"


def test_after_a_signal_ranks_stuck_past_the_grace_period_are_killed(quick, monkeypatch):
    monkeypatch.setattr(train_launch, "GRACE_SECONDS", 0.5)
    deaf = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(60)\n"
    processes = [start(deaf), start(deaf)]
    time.sleep(0.5)
    wait(processes, [signal.SIGINT])
    assert [p.returncode for p in processes] == [-signal.SIGKILL, -signal.SIGKILL]
    assert stopped_by_signal(processes, signal.SIGINT) == 130  # not rank 0's 137: the signal the user sent


def test_sigquit_is_passed_on_as_sigterm_and_the_launcher_says_so(capsys):
    processes = [start(SAVES_ON_SIGNAL), start(SAVES_ON_SIGNAL)]
    time.sleep(0.5)  # both have their handlers
    assert wait(processes, [signal.SIGQUIT]) == {} and stopped_by_signal(processes, signal.SIGTERM) == 143
    assert [p.returncode for p in processes] == [143, 143]
    assert capsys.readouterr().err == "SIGQUIT received: passed on to the processes as SIGTERM\n"


def test_sigint_ignored_when_the_launcher_starts_stays_ignored_there_and_in_the_processes(tmp_path):
    """`lmkit train --nproc 2 ... &` in a script: the shell starts it ignoring SIGINT, and so it stays."""
    rank = tmp_path / "rank"  # stands in for `python -m lmkit ...`: says whether it was started ignoring SIGINT
    rank.write_text(f"#!{sys.executable}\nimport signal, sys\n"
                    "sys.exit(7 if signal.getsignal(signal.SIGINT) == signal.SIG_IGN else 8)\n")
    rank.chmod(0o755)
    probe = ("import signal, sys\n"
             "from lmkit.commands import train_launch\n"
             "from lmkit.stop_signals import StopSignals\n"
             "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
             "with StopSignals():\n"
             "    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN\n"
             "    assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)\n"
             f"sys.executable = {str(rank)!r}\n"
             "sys.exit(train_launch.launch(1, []))\n")
    result = subprocess.run([*PYTHON, probe], capture_output=True, text=True)
    assert result.returncode == 7, result.stderr


def processes_working_in(folder) -> list[int]:
    """The pids whose current directory is `folder` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and Path(os.readlink(entry / "cwd")) == Path(folder):
                found.append(int(entry.name))
        except OSError:  # gone, or not ours to read
            pass
    return found


def lmkit_launch(tmp_path, *args, **popen):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LMKIT_CORPORA": str(tmp_path / "corpora")}
    return subprocess.Popen([sys.executable, "-m", "lmkit", "train", *args, "--nproc", "2"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def test_a_refused_option_under_nproc_is_one_line_said_once(tmp_path):
    (tmp_path / "t.txt").write_text("one two three\n" * 50, encoding="utf-8")
    process = lmkit_launch(tmp_path, "--train", "t.txt", "--valid", "t.txt", "--out", "m")
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 1
    assert stderr == "error: --valid and --test go together: give both, or neither to split --train\n"
    assert "Traceback" not in stderr + stdout and not (tmp_path / "m").exists()


def test_a_resumed_batch_the_processes_cannot_share_names_the_saved_batch_not_an_option_never_given(tmp_path):
    """Pass 87 F8: a run whose batch (15) the processes of --nproc 2 cannot share was refused as '--batch-size 15
    must be divisible', an option never typed; it now names the saved batch and both ways on."""
    (tmp_path / "t.txt").write_text("one two three four five six\n" * 400, encoding="utf-8")
    first = subprocess.run([sys.executable, "-m", "lmkit", "train", "--train", "t.txt", "--batch-size", "15",
                            "--max-steps", "1", "--hidden-size", "16", "--emb-size", "8", "--out", "m", "--quiet"],
                           cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    process = lmkit_launch(tmp_path, "--resume", "m", "--max-steps", "2")
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 1
    from lmkit.config.machine import default_threads

    cpus = default_threads({})  # the counts offered are those this machine can run side by side
    counts = ", ".join(str(n) for n in (1, 3, 5, 15) if n <= cpus)
    assert stderr == ("error: --resume m: the run trains batches of 15 rows, which 2 processes cannot share evenly: "
                      f"resume with --nproc {counts} (a count that divides it, of the {cpus} CPU{'s' * (cpus > 1)} "
                      "here), or give --batch-size 14 or 16\n")


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGHUP, 129)])
def test_a_signal_under_nproc_saves_once_and_exits_with_its_code(tmp_path, signum, code):
    """Ctrl-C, or a hangup (the terminal closed): passed on once; every rank saves; nothing trains on orphaned."""
    (tmp_path / "t.txt").write_text("".join(f"line {i} of {i % 7} words\n" for i in range(3000)), encoding="utf-8")
    process = lmkit_launch(tmp_path, "--train", "t.txt", "--hidden-size", "16", "--emb-size", "8", "--layers", "1",
                           "--eval-every", "1", "--max-time", "300", "--epochs", "1000", "--patience", "1000",
                           "--out", "m", preexec_fn=interruptible())
    deadline = time.monotonic() + 120
    while not (tmp_path / "m" / "metrics.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signum)  # to the launcher alone, as `kill` would; a terminal's Ctrl-C too
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    name = signal.Signals(signum).name  # a hangup reaches the ranks as itself, as a single process gets it
    assert stderr.count(f"{name}: saved a resumable checkpoint") == 1, stderr
    assert "Traceback" not in stderr and (tmp_path / "m" / "last" / "trainer_state.pt").exists()
    assert processes_working_in(tmp_path) == []  # no rank left training


def test_ctrl_c_before_a_command_saves_anything_is_one_line_and_130(cli, monkeypatch):
    import lmkit.commands.train_run as train_run

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_run, "run_training", interrupted)
    result = cli("train", "--max-steps", "1")
    assert result.exit_code == 130 and result.stderr.strip() == "error: interrupted (Ctrl-C)", result.output


@pytest.mark.parametrize("name,code,says", [("SIGTERM", 143, "terminated (SIGTERM)"),
                                            ("SIGHUP", 129, "hung up (SIGHUP: the terminal closed)")])
def test_a_stop_signal_before_a_command_saves_anything_is_one_line_and_its_cleanup_runs(tmp_path, name, code, says):
    """Outside training's safe points SIGTERM and SIGHUP are raised like Ctrl-C, so `finally` blocks run on the
    way out (a hang-up used to end `lmkit ngram --arpa` at once, leaving its temporary file beside the user's)."""
    cleaned = tmp_path / "cleaned"
    probe = ("import os, signal, sys, time\n"
             f"signal.signal(signal.{name}, signal.SIG_DFL)\n"  # as a terminal starts a command (not nohup)
             "import lmkit.commands.train_run as train_run\n"
             "from lmkit.cli import main\n"
             "def terminated(*args, **kwargs):\n"
             "    try:\n"
             f"        os.kill(os.getpid(), signal.{name})\n"
             "        time.sleep(30)\n"
             "    finally:\n"
             f"        open({str(cleaned)!r}, 'w').close()\n"
             "train_run.run_training = terminated\n"
             "main(['train', '--max-steps', '1'])\n")
    assert_stopped_in_one_line(probe, code, says)
    assert cleaned.exists()


def assert_stopped_in_one_line(probe: str, code: int, says: str) -> None:
    """Python code `probe` run in a new process ends with exit `code` and `error: {says}` alone on stderr."""
    result = subprocess.run([*PYTHON, probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == code and result.stderr == f"error: {says}\n", result.stderr


def test_a_collective_failing_for_a_gone_process_is_one_line_naming_the_cause():
    from lmkit.errors import TrainingError
    from lmkit.train.distributed import World

    gloo = RuntimeError("[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:553] Connection closed "
                        "by peer [127.0.0.1]:1419. This is typically caused by a remote worker crashing.")
    with pytest.raises(TrainingError, match=r"^process 0 of 2: another process of the job is gone "
                                            r"\(Connection closed by peer \[127.0.0.1\]:1419\)$"):
        with World(rank=0, size=2).peers_watched():
            raise gloo
    for world, error in ((World(rank=0, size=1), gloo), (World(rank=0, size=2), RuntimeError("a bug of ours"))):
        with pytest.raises(RuntimeError) as caught:  # alone, or not about a peer: the error as it was
            with world.peers_watched():
                raise error
        assert caught.value is error


def test_a_process_gone_before_training_starts_is_one_line_too(cli, monkeypatch):
    """A SIGHUP to one process while DDP checked the model's weights across the job (before the first step)
    gave process 0 a 38-line gloo traceback and exit 1: only training itself was watched."""
    import lmkit.commands.train_run as train_run
    from lmkit.train.distributed import World

    def peer_gone(*args, **kwargs):
        raise RuntimeError("[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:553] Connection closed "
                           "by peer [127.0.0.1]:40843. This is typically caused by a remote worker crashing.")

    monkeypatch.setattr(World, "from_env", classmethod(lambda cls, device_type="cpu": cls(rank=0, size=2)))
    monkeypatch.setattr(train_run, "train_in_world", peer_gone)
    assert_one_line_error(cli("train", "--max-steps", "1"), "process 0 of 2: another process of the job is gone "
                                                          "(Connection closed by peer [127.0.0.1]:40843)")


def test_sigterm_ends_a_process_still_waiting_for_the_others_to_join():
    """The rendezvous blocks in C++, where a Python handler would wait for the process that failed to come:
    there SIGTERM ends the process at once, so the launcher need not wait out its grace period."""
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(train_launch.free_port()),
           "WORLD_SIZE": "2", "RANK": "0"}
    probe = ("import signal\n"
             "from lmkit.cli import CommandStops\n"
             "from lmkit.train.distributed import World\n"
             "signal.signal(signal.SIGTERM, CommandStops())\n"
             "World.from_env()\n")
    process = subprocess.Popen([*PYTHON, probe], env=env)
    time.sleep(3)  # imported torch, waiting for rank 1
    process.terminate()
    try:
        assert process.wait(timeout=20) == -signal.SIGTERM
    finally:
        process.kill()


def test_sigterm_while_a_module_is_imported_ends_the_process_as_sigterm_does(tmp_path):
    """C code importing a module (torch importing numpy) may swallow the exception the handler raises and leave
    the module half-loaded for the command to trip over: during an import SIGTERM ends the process at once."""
    (tmp_path / "numpy.py").write_text("import os, signal, time\nos.kill(os.getpid(), signal.SIGTERM)\n"
                                       "time.sleep(5)\n")  # stands in for numpy, imported in this probe first
    probe = ("import signal, sys\n"
             "from lmkit.cli import CommandStops, Terminated\n"
             f"sys.path.insert(0, {str(tmp_path)!r})\n"
             "signal.signal(signal.SIGTERM, CommandStops())\n"
             "try:\n"
             "    import numpy\n"
             "except Terminated:\n"
             "    sys.exit(5)\n")
    assert subprocess.run([*PYTHON, probe], timeout=60).returncode == -signal.SIGTERM


def test_sigterm_while_an_ordinary_module_is_imported_is_the_one_line_error(tmp_path):
    """A lazy import of lmkit's own code, after start-up: the exception propagates as usual."""
    (tmp_path / "slow_module.py").write_text("import os, signal, time\nos.kill(os.getpid(), signal.SIGTERM)\n"
                                             "time.sleep(5)\n")
    probe = ("import signal, sys\n"
             f"sys.path.insert(0, {str(tmp_path)!r})\n"
             "from lmkit.cli import CommandStops, Terminated\n"
             "signal.signal(signal.SIGTERM, CommandStops())\n"
             "try:\n"
             "    import slow_module\n"
             "except Terminated:\n"
             "    sys.exit(5)\n")
    assert subprocess.run([*PYTHON, probe], timeout=60).returncode == 5


def test_after_a_stop_the_exit_keeps_its_line_and_exit_code_whatever_comes_later():
    """A command stopped by SIGTERM restored the signals' defaults as it exited, and a SIGHUP or Ctrl-C arriving
    during the shutdown (0.05-0.5 s later) killed it: the line named SIGTERM, the exit code was the other's."""
    probe = ("import os, signal, atexit, time\n"
             "signal.signal(signal.SIGHUP, signal.SIG_DFL)\n"  # as a terminal starts a command (not nohup, not &)
             "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
             "import lmkit.commands.train_run as train_run\n"
             "from lmkit.cli import main\n"
             "def stopped(*args, **kwargs):\n"
             "    os.kill(os.getpid(), signal.SIGTERM)\n"
             "    time.sleep(30)\n"
             "def later():\n"  # at exit, after main has returned
             "    os.kill(os.getpid(), signal.SIGHUP)\n"
             "    os.kill(os.getpid(), signal.SIGINT)\n"
             "    time.sleep(0.5)\n"
             "atexit.register(later)\n"
             "train_run.run_training = stopped\n"
             "try:\n"
             "    main(['train', '--max-steps', '1'])\n"
             "except SystemExit:\n"  # Python's shutdown puts back the default of a signal it handles: ignored, it
             "    assert all(signal.getsignal(s) == signal.SIG_IGN for s in (signal.SIGINT, signal.SIGHUP))\n"
             "    raise\n")  # stays so, and a signal then cannot end the process as the other signal's
    assert_stopped_in_one_line(probe, 143, "terminated (SIGTERM)")


def test_a_stop_signal_as_a_command_ends_on_its_own_ends_the_process_with_it():
    """Ctrl-C just as a report wrote its last file: no traceback (KeyboardInterrupt raised into the exit), and
    the signal's own end, so a chain `lmkit ... && ...` stops there."""
    probe = ("import os, signal\n"
             "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
             "import lmkit.cli as cli\n"
             "run_app = cli.run_app\n"
             "def finishing(argv):\n"
             "    try:\n"
             "        run_app(argv)\n"
             "    finally:\n"  # the command is done, on its way out of main
             "        cli.signal.getsignal(signal.SIGINT).over = True\n"
             "        os.kill(os.getpid(), signal.SIGINT)\n"
             "cli.run_app = finishing\n"
             "cli.main(['--version'])\n")
    result = subprocess.run([*PYTHON, probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == -signal.SIGINT and result.stderr == "", result.stderr


@pytest.mark.parametrize("raised,code,says", [("KeyboardInterrupt()", 130, "interrupted (Ctrl-C)"),
                                              ("Terminated(signal.SIGHUP)", 129, "hung up (SIGHUP: the terminal closed)"),
                                              ("Terminated(signal.SIGTERM)", 143, "terminated (SIGTERM)")])
def test_a_stop_signal_after_the_command_returned_is_the_one_line_error(raised, code, says):
    """A signal landing after the command's work, while click unwinds to main, is reported as one arriving during
    it: one line and the signal's exit code (it was a KeyboardInterrupt traceback)."""
    probe = ("import signal\n"
             "import lmkit.cli as cli\n"
             "from lmkit.cli import Terminated\n"
             "def run_app(argv):\n"
             f"    raise {raised}\n"
             "cli.run_app = run_app\n"
             "cli.main(['--version'])\n")
    assert_stopped_in_one_line(probe, code, says)


def test_rank_logs_a_killed_launcher_left_are_removed_and_nothing_else(tmp_path):
    import subprocess

    from lmkit.commands.train_launch import RANK_LOGS, remove_stale_rank_logs

    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid no launcher holds any more

    def folder(name: str, files: dict) -> Path:
        (tmp_path / name).mkdir()
        for file, text in files.items():
            (tmp_path / name / file).write_text(text)
        return tmp_path / name

    stale = folder(f"{RANK_LOGS}{gone.pid}-ab12", {"rank1.err": "", "rank2.err": "error: x\n"})
    empty = folder(f"{RANK_LOGS}{gone.pid}-cd34", {})
    kept = [folder(f"{RANK_LOGS}{os.getpid()}-ef56", {"rank1.err": ""}),      # its launcher is running
            folder(f"{RANK_LOGS}{gone.pid}-gh78", {"rank1.err": "", "notes.txt": "mine"}),  # not only rank logs
            folder(f"{RANK_LOGS}q1w2e3", {"rank1.err": ""})]                 # no pid in the name
    (tmp_path / f"{RANK_LOGS}{gone.pid}-link").symlink_to(kept[0])
    remove_stale_rank_logs(tmp_path)
    assert not stale.exists() and not empty.exists()
    assert all(k.exists() and any(k.iterdir()) for k in kept) and (tmp_path / f"{RANK_LOGS}{gone.pid}-link").is_symlink()


def test_ctrl_c_while_click_reads_the_arguments_is_the_one_line_error_not_aborted():
    """Ctrl-C outside the command's own code (click parsing the arguments, or unwinding after the command) was a
    KeyboardInterrupt, which click turns into 'Aborted!' and exit 1."""
    probe = ("import os, signal, time\n"
             "signal.signal(signal.SIGINT, signal.default_int_handler)\n"  # as a terminal starts a command
             "import lmkit.cli as cli\n"
             "parse_args = cli.LazyGroup.parse_args\n"
             "def interrupted(self, ctx, args):\n"
             "    os.kill(os.getpid(), signal.SIGINT)\n"
             "    time.sleep(5)\n"
             "    return parse_args(self, ctx, args)\n"
             "cli.LazyGroup.parse_args = interrupted\n"
             "cli.main(['--version'])\n")
    assert_stopped_in_one_line(probe, 130, "interrupted (Ctrl-C)")


def test_a_second_stop_signal_waits_for_the_first_ones_clean_up_and_the_first_is_reported(tmp_path):
    """SIGTERM and then SIGHUP 2 ms apart: the second raised into the first's clean-up (cutting it short), and
    the process died by the second (exit 129) after printing the first's line."""
    cleaned = tmp_path / "cleaned"
    probe = ("import os, signal, time\n"
             "signal.signal(signal.SIGHUP, signal.SIG_DFL)\n"
             "import lmkit.commands.train_run as train_run\n"
             "from lmkit.cli import main\n"
             "def stopped_twice(*args, **kwargs):\n"
             "    try:\n"
             "        os.kill(os.getpid(), signal.SIGTERM)\n"
             "        time.sleep(30)\n"
             "    finally:\n"
             "        os.kill(os.getpid(), signal.SIGHUP)\n"
             "        time.sleep(0.5)\n"  # the clean-up, under way when the second signal comes
             f"        open({str(cleaned)!r}, 'w').close()\n"
             "train_run.run_training = stopped_twice\n"
             "main(['train', '--max-steps', '1'])\n")
    assert_stopped_in_one_line(probe, 143, "terminated (SIGTERM)")
    assert cleaned.exists()


def test_command_stops_raise_the_first_signal_and_record_the_rest():
    from lmkit.cli import CommandStops, Terminated

    stops = CommandStops()
    with pytest.raises(Terminated) as raised:
        stops(signal.SIGHUP, None)
    assert raised.value.signum == signal.SIGHUP
    stops(signal.SIGTERM, None)  # recorded, not raised: the first one's clean-up goes on
    assert (stops.first, stops.later) == (signal.SIGHUP, [signal.SIGTERM])
    over = CommandStops()
    over.over = True
    over(signal.SIGINT, None)  # after the command: recorded, for main to end the process with once it has exited
    assert (over.first, over.later) == (None, [signal.SIGINT])


def test_the_resume_hint_after_a_signal_is_a_command_a_shell_reads_as_printed():
    """First-hour pass, session 51: `--resume my models/英文 lstm` was printed unquoted, and pasted it failed."""
    import shlex

    from lmkit.commands.train_run import resume_command

    hint = resume_command(Path("my models/英文 lstm"))
    assert shlex.split(hint) == ["lmkit", "train", "--resume", "my models/英文 lstm"]
    assert resume_command(Path("runs/plain")) == "lmkit train --resume runs/plain"


def test_the_processes_share_the_cores_and_run_this_lmkit(monkeypatch):
    """Pass 87: OMP_NUM_THREADS was 1 for any --nproc (--nproc 1 trained on half of a 2-core machine), and the
    processes ran `python -m lmkit`, which from a checkout run as `python cli.py` found no lmkit, or another one."""
    import lmkit
    from lmkit.commands import train_launch
    from lmkit.config import machine

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    monkeypatch.setattr(machine, "default_threads", lambda: 4)
    assert [train_launch.process_environment(n)["OMP_NUM_THREADS"] for n in (1, 2, 3, 8)] == ["4", "2", "1", "1"]
    here = str(Path(lmkit.__file__).resolve().parent.parent)
    assert train_launch.process_environment(2)["PYTHONPATH"].split(os.pathsep) == [here, "/elsewhere"]
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's, kept
    assert train_launch.process_environment(2)["OMP_NUM_THREADS"] == "3"


def test_what_the_options_alone_refuse_is_refused_before_any_process_starts(cli, monkeypatch, tmp_path, capsys):
    """Pass 87: --nproc 12 started twelve processes, each importing torch (30 s, 1.6 GB), to say that its batch did
    not divide; an unknown --device ended in each process's traceback."""
    from conftest import TINY, assert_one_line_error
    from lmkit.commands import train_launch

    monkeypatch.setattr(train_launch, "launch", lambda *args: pytest.fail("a process was started"))
    args = ("train", "--train", TINY["en"]["train"], "--max-steps", "1", "--out", tmp_path / "m", "--nproc", "2")
    assert_one_line_error(cli(*args, "--batch-size", "7"), "--batch-size 7 must be divisible by the 2 processes: "
                          "give --batch-size 6 or 8")
    assert_one_line_error(cli(*args, "--device", "xla"), "--device xla: lmkit runs on cpu, cuda, mps")
    from lmkit.config import machine

    monkeypatch.setattr(machine, "default_threads", lambda environ=None: 2)
    train_launch.check_job(3, "cpu", None)
    assert "warning: --nproc 3: this process may use 2 CPUs" in capsys.readouterr().err
