"""The cell's node graph (``config/graph.yaml``): one definition for ``binpick bringup`` and
``launch/bringup.launch.py``. Plain Python; neither ROS nor launch is imported here."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from binpick.config import config_dir
from binpick.data.errors import DataFormatError
from binpick.data.jsonfields import load_yaml

TRUE = ('true', '1', 'yes', 'on')

# seconds a node gets after SIGINT before SIGTERM (binpick bringup and ros2 launch alike): a node busy
# inside a frame on a loaded machine needs a few; SIGTERM after that, SIGKILL 2 s later
STOP_GRACE_S = 7.0


@dataclass
class NodeSpec:
    """One node to start: ``executable`` of the binpick package named ``name``, with parameter files
    (absolute paths, applied in order) and then ``parameters`` on top."""

    name: str
    executable: str
    parameter_files: list[Path]
    parameters: dict = field(default_factory=dict)
    remappings: dict[str, str] = field(default_factory=dict)   # topic the node uses -> topic it gets

    def ros_args(self) -> list[str]:
        """Command-line arguments that give a node this name, these remappings and these parameters."""
        args = ['--ros-args', '-r', f'__node:={self.name}']
        for source, target in self.remappings.items():
            args += ['-r', f'{source}:={target}']
        for f in self.parameter_files:
            args += ['--params-file', str(f)]
        for k, v in self.parameters.items():
            args += ['-p', f'{k}:={_param_text(v)}']
        return args


def _param_text(value) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    text = str(value)
    # quoted so that a path or a number-like string stays a string parameter
    return text if isinstance(value, (int, float)) else "'" + text.replace("'", "") + "'"


def node_environment() -> dict[str, str]:
    """Environment for the cell's processes, where the user has not set it:
    - ``FASTRTPS_DEFAULT_PROFILES_FILE``: the Fast DDS profile ``config/fastdds.xml`` (a shared-memory
      segment that holds whole camera frames);
    - ``MALLOC_ARENA_MAX=2``: glibc gives each thread that allocates its own heap arena; a node whose
      executor threads receive camera frames that its worker thread frees grew by hundreds of MB in
      minutes (the recorder), where two arenas keep it flat (bench/cell_soak.py)."""
    env = {}
    if 'FASTRTPS_DEFAULT_PROFILES_FILE' not in os.environ:
        env['FASTRTPS_DEFAULT_PROFILES_FILE'] = str(config_dir() / 'fastdds.xml')
    if 'MALLOC_ARENA_MAX' not in os.environ:
        env['MALLOC_ARENA_MAX'] = '2'
    return env


def graph_file() -> Path:
    return config_dir() / 'graph.yaml'


def default_arguments(path: Path | None = None) -> dict[str, str]:
    """The launch arguments and their defaults."""
    path = path or graph_file()
    doc = load_yaml(path)
    args = doc.get('arguments') if isinstance(doc, dict) else None
    if not isinstance(args, dict):
        raise DataFormatError(path, 'arguments', 'expected a mapping of argument names to defaults')
    return {k: str(v) for k, v in args.items()}


def with_sim_defaults(values: dict[str, str], given: set[str]) -> dict[str, str]:
    """Argument values for the simulated cell (``use_sim`` true; others are returned unchanged): the shipped
    demo models when no checkpoint was ``given``, and a bank and model folder of its own (simulated frames
    never go into a real cell's bank)."""
    if str(values.get('use_sim', 'false')).lower() not in TRUE:
        return values
    from binpick.demo_models import SHIPPED, model_paths
    out = dict(values)
    if not given & {'segmentation_checkpoint', 'pose_checkpoint'}:
        shipped = model_paths(SHIPPED, out.get('object_id') or default_arguments()['object_id'])
        if all(p.is_file() for p in shipped.values()):
            out['segmentation_checkpoint'], out['pose_checkpoint'] = str(shipped['seg']), str(shipped['pose'])
    sim_home = Path(os.path.expanduser('~/.local/share/binpick/sim_cell'))
    for name, folder in (('bank_dir', 'bank'), ('model_dir', 'models')):
        if name not in given:
            out[name] = str(sim_home / folder)
    return out


def nodes(arguments: dict[str, str] | None = None, path: Path | None = None) -> list[NodeSpec]:
    """The nodes to start for these argument values (missing ones take their defaults)."""
    path = path or graph_file()
    values = {**default_arguments(path), **{k: str(v) for k, v in (arguments or {}).items()}}
    unknown = set(arguments or {}) - set(default_arguments(path))
    if unknown:
        raise DataFormatError(path, 'arguments', f'unknown argument(s): {", ".join(sorted(unknown))}')
    use_sim = values['use_sim'].lower() in TRUE
    check_files(values)
    extra_files = [Path(_expand(values['params_file'])).resolve()] if values.get('params_file') else []
    doc = load_yaml(path)
    remappings = camera_remappings(doc, values, path)
    specs = []
    for n, entry in enumerate(doc.get('nodes') or []):
        where = f'nodes[{n}]'
        try:
            name, executable = entry['name'], entry['executable']
        except (KeyError, TypeError):
            raise DataFormatError(path, where, 'needs name and executable') from None
        if 'sim' in entry and bool(entry['sim']) != use_sim:
            continue
        if 'camera' in entry and entry['camera'] != values['camera']:   # a driver of the user's own replaces it
            continue
        files = [config_dir() / f for f in entry.get('parameters', [])]
        for f in files:
            if not f.is_file():
                raise DataFormatError(path, f'{where}.parameters', f'{f} does not exist')
        missing = [a for a in entry.get('arguments', []) if a not in values]
        if missing:
            raise DataFormatError(path, f'{where}.arguments', f'not a declared argument: {missing[0]}')
        files += extra_files
        params = {a: _expand(values[a]) for a in entry.get('arguments', [])}
        params.update(entry.get('parameters_sim' if use_sim else 'parameters_real') or {})
        specs.append(NodeSpec(name, executable, files, params, remappings))
    return specs


def camera_presets() -> dict[str, dict[str, str]]:
    """Camera drivers binpick knows the topics of (``config/cameras.yaml``): name -> topic argument -> topic."""
    path = config_dir() / 'cameras.yaml'
    doc = load_yaml(path)
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise DataFormatError(path, '', 'expected a mapping of camera names to their topic arguments')
    return {name: {k: str(v) for k, v in topics.items()} for name, topics in doc.items()}


def camera_remappings(doc: dict, values: dict[str, str], path: Path) -> dict[str, str]:
    """Where every node gets the camera streams (``camera_topics`` of graph.yaml: topic -> argument): a
    topic argument given explicitly, else the named driver's topic (``camera:=realsense``), else unchanged."""
    presets = camera_presets()
    camera = values['camera']
    if camera not in ('stereo', 'external', *presets):
        raise DataFormatError(path, 'arguments.camera', f'{camera!r}; expected stereo, external or a driver of '
                              f'config/cameras.yaml: {", ".join(presets)}')
    topics = doc.get('camera_topics') or {}
    if not isinstance(topics, dict) or not all(a in values for a in topics.values()):
        raise DataFormatError(path, 'camera_topics', 'expected a mapping of topics to declared arguments')
    defaults = default_arguments(path)
    chosen = {arg: values[arg] if values[arg] != defaults[arg] else presets.get(camera, {}).get(arg, values[arg])
              for arg in topics.values()}
    return {topic: chosen[arg] for topic, arg in topics.items() if chosen[arg] and chosen[arg] != topic}


FILE_ARGUMENTS = ('segmentation_checkpoint', 'pose_checkpoint', 'params_file')


def check_files(values: dict[str, str]) -> None:
    """Refuse a file argument (checkpoint, parameter file) that names a file that does not exist."""
    for name in FILE_ARGUMENTS:
        value = values.get(name)
        if value and not Path(_expand(value)).is_file():
            raise DataFormatError(Path(_expand(value)), name, 'file does not exist')


def _expand(value: str) -> str:
    return os.path.expanduser(value) if value.startswith('~') else value
