"""What every command-line tool does around its `main`.

`fails_on(*errors)` decorates a tool's `main`: an expected error ends the
tool on the one line `quiet_tf.fail` prints (`Error: <message>`, exit
status 1) instead of a traceback. `run(main, define_flags)` is a tool's
whole `if __name__ == '__main__':` block: it defines the tool's flags (with
`--tf_verbose` of `quiet_tf` among its key flags, so `--help` lists it) and
runs `main` under absl.
"""

from utils import quiet_tf  # first: quiets TensorFlow's start-up

import functools  # pylint: disable=g-bad-import-order

from absl import app
from absl import flags

# The key flags adopted in `run` belong to the tool that calls it.
flags.disclaim_key_flags()


def fails_on(*errors):
  """Decorator of a tool's main: `errors` end it with `quiet_tf.fail`.

  Args:
    *errors: the exception types the tool reports as its one error line.

  Returns:
    a decorator taking `main` (a function of absl's argv) and returning the
    same function, which exits with status 1 on one of `errors`.
  """
  def decorate(main):
    @functools.wraps(main)
    def failing_main(argv):
      try:
        return main(argv)
      except errors as e:
        quiet_tf.fail(e)
    return failing_main
  return decorate


def run(main, define_flags=None):
  """Runs a command-line tool: defines its flags, then `main` under absl.

  Args:
    main: the tool's main, a function of absl's argv.
    define_flags: function of no argument defining the tool's flags; None
      when the tool defines none.

  Returns:
    nothing: absl's `app.run` exits the process.
  """
  if define_flags is not None:
    define_flags()
  flags.adopt_module_key_flags(quiet_tf)
  app.run(main)
