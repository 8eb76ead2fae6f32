"""Coverage-guided fuzzing of every decoder and of the serving handler (atheris).

* `fuzz.targets`: one harness per decoder (a function of the input bytes) and its seeds.
* `fuzz.harness`: runs one target under atheris/libFuzzer and checks the invariant: every
  input ends in a result or one of our typed errors, within a time and memory bound
  proportional to its size. Anything else is a finding, written to the crash directory.
* `fuzz.run`: runs every harness in its own subprocess and prints a summary table.
* `fuzz.cover`: line coverage of each decoder module by a run's grown corpus.

``python -m fuzz.run --seconds 20`` is the CI-sized run; see docs/reliability.md.
"""
