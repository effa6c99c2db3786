"""JSON-lines files: one JSON value per line."""

import json
import os


def read_json_lines(path, bad_line):
  """The non-empty lines of `path` as parsed JSON values, in order.

  Args:
    path: the file; [] if it does not exist.
    bad_line: called as bad_line(line_number, reason) for a line that is not
      a JSON object (reason: the parse error or the value); it may raise, or
      return to skip the line.

  Returns:
    list of dicts.
  """
  if not os.path.isfile(path):
    return []
  values = []
  with open(path) as f:
    for number, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        value = json.loads(line)
      except json.JSONDecodeError as e:
        value = e
      if isinstance(value, dict):
        values.append(value)
      else:
        bad_line(number, value)
  return values
