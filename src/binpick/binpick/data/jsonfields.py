"""Loading JSON and YAML files and typed access to their fields, with errors that name the file and field."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from binpick.data.errors import DataFormatError


def _parse_file(path: str | Path, parse, syntax_error: type, describe) -> Any:
    path = Path(path)
    try:
        return parse(path.read_text())
    except FileNotFoundError:
        raise DataFormatError(path, '', 'file does not exist') from None
    except syntax_error as e:
        raise DataFormatError(path, *describe(e)) from None


def load_json(path: str | Path) -> Any:
    """Parse a JSON file; a missing file or a syntax error (with its line) names the file."""
    return _parse_file(path, json.loads, json.JSONDecodeError,
                       lambda e: (f'line {e.lineno}', f'not valid JSON ({e.msg})'))


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file (safe loader); a missing file or a syntax error names the file."""
    import yaml
    return _parse_file(path, yaml.safe_load, yaml.YAMLError, lambda e: ('', f'not valid YAML ({e})'))


def field(entry: Any, key: str, path: Path | str, where: str) -> Any:
    """``entry[key]``; raises DataFormatError naming ``path``, ``where`` and ``key`` if absent."""
    if not isinstance(entry, dict):
        raise DataFormatError(path, where, f'expected an object, got {type(entry).__name__}')
    if key not in entry:
        raise DataFormatError(path, where, f'missing field {key!r}')
    return entry[key]


def number_array(entry: Any, key: str, size: int, path: Path | str, where: str) -> np.ndarray:
    """Field ``key`` as a float64 array of exactly ``size`` finite numbers."""
    value = field(entry, key, path, where)
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise DataFormatError(path, f'{where}.{key}', f'expected {size} numbers, got {value!r}') from None
    if arr.size != size or not np.all(np.isfinite(arr)):
        raise DataFormatError(path, f'{where}.{key}', f'expected {size} finite numbers, got {arr.size}')
    return arr


def number(entry: Any, key: str, path: Path | str, where: str) -> float:
    """Field ``key`` as one finite float."""
    return float(number_array(entry, key, 1, path, where)[0])


def integer(entry: Any, key: str, path: Path | str, where: str) -> int:
    """Field ``key`` as an int."""
    value = field(entry, key, path, where)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise DataFormatError(path, f'{where}.{key}', f'expected an integer, got {value!r}')
    return int(value)


def int_keys(data: Any, path: Path | str) -> dict[int, Any]:
    """A JSON object keyed by decimal integers (BOP image and object ids) as a dict with int keys."""
    if not isinstance(data, dict):
        raise DataFormatError(path, '', f'expected an object keyed by ids, got {type(data).__name__}')
    out = {}
    for key, value in data.items():
        try:
            out[int(key)] = value
        except ValueError:
            raise DataFormatError(path, repr(key), 'key is not an integer id') from None
    return out
