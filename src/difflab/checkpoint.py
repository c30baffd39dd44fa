"""Checkpoints: one safetensors file (tensors) with JSON metadata inside, written atomically;
and the run directory's format: RUN/checkpoint.safetensors beside RUN/loss.json.

safetensors holds raw tensors and a JSON header only, so loading never runs code; files in other
formats (pickles, torch .pt archives) are refused, never unpickled.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, IO

from safetensors import safe_open
from safetensors.torch import save as st_save
from torch import Tensor

from .errors import DifflabError

META_KEY = "difflab"
CHECKPOINT = "checkpoint.safetensors"  # a run's weights, EMA, optimizer, RNG and config
LOSS = "loss.json"  # a run's loss history, readable without the checkpoint


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Write through a temporary file in the same directory, fsync, then rename over `path`."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise DifflabError(f"{path}: {_not_a_directory(directory)}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as e:
        raise DifflabError(f"{path}: cannot write here ({e.strerror})") from None
    try:
        os.fchmod(
            fd, 0o666 & ~_umask()
        )  # mkstemp makes 0600; a file we write gets the umask's mode
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _not_a_directory(directory: Path) -> str:
    """Why `directory` cannot hold a file: the first part of it that is a file, or missing."""
    for part in [*reversed(directory.parents), directory]:
        if part.exists() and not part.is_dir():
            return f"{part} is a file, not a directory"
    return f"directory {directory} does not exist"


def check_writable_dir(directory: Path) -> None:
    """Refuse, before any work, a directory that cannot be made or written: a file in the way,
    or a read-only place."""
    if directory.exists() and not directory.is_dir():
        raise DifflabError(f"{directory}: is a file; expected a directory to write the run into")
    existing = next(p for p in [directory, *directory.parents] if p.exists())
    if not existing.is_dir():
        raise DifflabError(f"{directory}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DifflabError(f"{directory}: cannot write in {existing} (read-only or not permitted)")


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2).encode()))


def save_checkpoint(path: str | Path, tensors: dict[str, Tensor], meta: dict) -> None:
    """tensors → safetensors, meta → its JSON header under 'difflab'; atomically."""
    blob = st_save(
        {k: v.detach().contiguous().cpu() for k, v in tensors.items()}, {META_KEY: json.dumps(meta)}
    )
    atomic_write(path, lambda f: f.write(blob))


def load_checkpoint(path: str | Path) -> tuple[dict[str, Tensor], dict]:
    """(tensors, meta) from a difflab checkpoint; a one-line error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise DifflabError(f"{path}: no such checkpoint")
    with open(path, "rb") as f:
        head = f.read(9)
    if not _looks_like_safetensors(head, path.stat().st_size):
        if head[:2] == b"PK" or head[:1] == b"\x80":
            raise DifflabError(
                f"{path}: a pickle/torch archive, refused (difflab loads only safetensors)"
            )
        raise DifflabError(f"{path}: not a safetensors checkpoint")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta_raw = (f.metadata() or {}).get(META_KEY)
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises several types for corrupt input
        raise DifflabError(
            f"{path}: not a readable safetensors checkpoint ({type(e).__name__})"
        ) from None
    if meta_raw is None:
        raise DifflabError(
            f"{path}: a safetensors file without difflab metadata (foreign checkpoint)"
        )
    try:
        meta = json.loads(meta_raw)
    except json.JSONDecodeError:
        raise DifflabError(f"{path}: corrupt difflab metadata") from None
    return tensors, meta


def _looks_like_safetensors(head: bytes, size: int) -> bool:
    """safetensors begins with a u64 little-endian header length, then the JSON header '{…'."""
    if len(head) < 9:
        return False
    n = int.from_bytes(head[:8], "little")
    return 0 < n <= size - 8 and head[8:9] == b"{"


def flatten_state(prefix: str, state: Any, tensors: dict[str, Tensor]) -> Any:
    """Split a nested state (optimizer state_dict, RNG states) into tensors and a JSON skeleton."""
    if isinstance(state, Tensor):
        key = prefix
        tensors[key] = state
        return {"__tensor__": key}
    if isinstance(state, dict):
        return {
            "__dict__": [
                [
                    flatten_state(f"{prefix}.{i}k", k, tensors),
                    flatten_state(f"{prefix}.{i}", v, tensors),
                ]
                for i, (k, v) in enumerate(state.items())
            ]
        }
    if isinstance(state, (list, tuple)):
        return {
            "__list__": [flatten_state(f"{prefix}.{i}", v, tensors) for i, v in enumerate(state)],
            "tuple": isinstance(state, tuple),
        }
    if state is None or isinstance(state, (bool, int, float, str)):
        return state
    raise TypeError(f"cannot store {type(state).__name__} in a checkpoint")


def unflatten_state(skeleton: Any, tensors: dict[str, Tensor]) -> Any:
    """Inverse of flatten_state."""
    if isinstance(skeleton, dict):
        if "__tensor__" in skeleton:
            return tensors[skeleton["__tensor__"]]
        if "__dict__" in skeleton:
            return {
                unflatten_state(k, tensors): unflatten_state(v, tensors)
                for k, v in skeleton["__dict__"]
            }
        if "__list__" in skeleton:
            items = [unflatten_state(v, tensors) for v in skeleton["__list__"]]
            return tuple(items) if skeleton["tuple"] else items
    return skeleton


def read_history(run_dir: str | Path) -> list:
    """[[step, mean loss], …] as logged in RUN/loss.json (empty if there is none)."""
    path = Path(run_dir) / LOSS
    return json.loads(path.read_text())["step_loss"] if path.exists() else []
