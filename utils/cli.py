"""What every command-line tool does around its `main`.

`run(main, define_flags)` is a tool's whole `if __name__ == '__main__':`
block: it defines the tool's flags (with `--tf_verbose` of `quiet_tf` among
its key flags, so `--help` lists it), runs `main` under absl, and ends the
tool on the one line `quiet_tf.fail` prints (`Error: <message>`, exit
status 1) when `main` raises one of the expected errors, instead of a
traceback.
"""

from utils import quiet_tf  # first: quiets TensorFlow's start-up

from absl import app  # pylint: disable=g-bad-import-order
from absl import flags

# The key flags adopted in `run` belong to the tool that calls it.
flags.disclaim_key_flags()


def run(main, define_flags=None, errors=(ValueError,)):
  """Runs a command-line tool.

  Args:
    main: the tool's main, a function of absl's argv.
    define_flags: function of no argument defining the tool's flags; None
      when the tool defines none.
    errors: tuple of the exception types that end the tool with
      `quiet_tf.fail`; () for a tool that reports its errors itself.

  Returns:
    nothing: absl's `app.run` exits the process.
  """
  if define_flags is not None:
    define_flags()
  flags.adopt_module_key_flags(quiet_tf)

  def failing_main(argv):
    try:
      return main(argv)
    except errors as e:
      quiet_tf.fail(e)

  app.run(failing_main)
