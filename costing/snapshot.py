"""The engine's state as plain arrays and bytes, and an engine made back from them.

`engine_state(engine)` names every piece of state (`EngineState.arrays`: numpy arrays,
one `meta` array holding the plain containers — dicts, lists, sets of ids and names —
pickled, and each block store's bytes, read lazily: `EngineState.stores`).
`engine_from_state(master, parts, ...)` builds a fresh engine for the same master data and
puts that state back in place; `parts` maps the same names to arrays (a block store's
bytes as a uint8 array — a memory map of a snapshot file is fine: old rows are read
from it, never copied, and new rows go to the fresh engine's own store).
`state_differences(a, b)` names what differs between two states (empty: equal).

The walk is generic over the engine's state holders (ledger, inventory, orders, effect
log, records, id index, batch path): an attribute of a type it does not know raises
TypeError naming it, so new state cannot be left out of a snapshot unnoticed. The id
index's hash is the same in every process (costing.effects.id_hashes): restored as is.
No I/O here: the gateway writes and reads the files (gateway.snapshots).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from costing.arrays import Column, MemoryBlocks, SpillColumn
from costing.engine import Engine
from costing.master import MasterData

FORMAT = 3  # bump when the layout of the state changes
_HOLDERS: tuple[tuple[str, Callable[[Engine], Any]], ...] = (
    ("ledger", lambda e: e.ledger), ("inv", lambda e: e.inv), ("wos", lambda e: e.wos),
    ("effects", lambda e: e.effects), ("records", lambda e: e.records),
    ("ids", lambda e: e.records.index), ("batch", lambda e: e._batch),
    ("money", lambda e: e.money))
# references to master data or to other holders, and per-run scratch and caches
# rebuilt on demand: not state
_SKIP = frozenset({"plant", "std", "engine", "kernel", "tables", "item_name", "_bufs",
                   "_by_class", "_run_of", "_run_start", "_item_rows"})
_PLAIN = (str, int, float, bool, type(None))


class StoreBytes:
    """A block store's bytes [0, nbytes), read a chunk at a time."""

    def __init__(self, store, nbytes: int):
        self.store, self.nbytes = store, nbytes

    def chunks(self, size: int = 1 << 24) -> Iterator[bytes]:
        for at in range(0, self.nbytes, size):
            yield self.store.read(at, min(size, self.nbytes - at))


@dataclass
class EngineState:
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    stores: dict[str, StoreBytes] = field(default_factory=dict)


class BaseBlocks:
    """A block store over `base` (the bytes of a snapshot's store, read-only) with
    writes going on to `upper` (the fresh engine's own store) past its end."""

    __slots__ = ("base", "upper")

    def __init__(self, base: np.ndarray, upper):
        self.base, self.upper = base, upper

    @property
    def end(self) -> int:
        return len(self.base) + self.upper.end

    def write(self, data: np.ndarray) -> int:
        return len(self.base) + self.upper.write(data)

    def read(self, offset: int, nbytes: int) -> bytes:
        b = len(self.base)
        if offset >= b:
            return self.upper.read(offset - b, nbytes)
        head = self.base[offset:min(offset + nbytes, b)].tobytes()
        if len(head) == nbytes:
            return head
        return head + self.upper.read(0, nbytes - len(head))

    def close(self) -> None:
        self.upper.close()


def _leaves(engine: Engine) -> Iterator[tuple[str, Any, Any, Any]]:
    """(path, owner, attribute or index, value) of every piece of state, in a fixed order;
    an alias of an object already walked (the batch path's views of the holders'
    dicts) is left out."""
    holders = [(hname, get(engine)) for hname, get in _HOLDERS]
    seen = {id(holder) for _, holder in holders}  # records.index is walked as `ids`
    for hname, holder in holders:
        for name, value in vars(holder).items():
            if name in _SKIP or id(value) in seen:
                continue
            path = f"{hname}.{name}"
            if (isinstance(value, (list, tuple)) and value
                    and isinstance(value[0], (Column, SpillColumn))):
                for k, col in enumerate(value):
                    yield f"{path}[{k}]", value, k, col
                continue
            if not isinstance(value, _PLAIN):
                seen.add(id(value))
            yield path, holder, name, value


def _check_plain(path: str, value: Any) -> None:
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            _check_plain(path, v)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _check_plain(path, k)
            _check_plain(path, v)
        return
    raise TypeError(f"engine state {path}: a {type(value).__name__} cannot be kept in a "
                    "snapshot (costing.snapshot knows arrays, columns and plain containers)")


def engine_state(engine: Engine, copy: bool = True) -> EngineState:
    """The engine's whole state, copied (the engine may go on after this returns); call
    it between runs, never inside one. `copy=False`: the arrays are views of the
    engine's own, for a caller that is done with them before the engine takes another
    event (a snapshot written between two batches: no second copy of the state in
    memory at once)."""
    own = np.copy if copy else np.asarray
    if engine._batch.ints:
        raise RuntimeError("engine state taken in the middle of a run")
    state, meta, stores = EngineState(), {}, {}
    for path, _, _, value in _leaves(engine):
        if isinstance(value, np.ndarray):
            state.arrays[path] = own(value)
        elif isinstance(value, Column):
            state.arrays[path] = own(value.a)
        elif isinstance(value, SpillColumn):
            key = stores.setdefault(id(value.store), (f"store{len(stores)}", value.store))[0]
            state.arrays[f"{path}.hot"] = own(value.hot.a)
            meta[path] = (key, value.cold_n, list(value.blocks), value.block)
        else:
            _check_plain(path, value)
            meta[path] = value
    for key, store in stores.values():
        state.stores[key] = StoreBytes(store, int(store.end))
    raw = pickle.dumps((FORMAT, meta), protocol=5)
    state.arrays["meta"] = np.frombuffer(raw, np.uint8)
    return state


class _PlainUnpickler(pickle.Unpickler):
    """Plain containers only: a snapshot names no class or function to import."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"snapshot meta names {module}.{name}: refused")


class _Reader:
    """The read interface an unpickler takes, over bytes in memory."""

    def __init__(self, raw: bytes):
        self.raw, self.at = raw, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.raw) if n < 0 else self.at + n
        out, self.at = self.raw[self.at:end], min(end, len(self.raw))
        return out

    def readline(self) -> bytes:
        end = self.raw.find(b"\n", self.at)
        return self.read(-1 if end < 0 else end + 1 - self.at)


def _meta(parts: Mapping[str, np.ndarray]) -> dict:
    raw = np.asarray(parts["meta"], np.uint8).tobytes()
    fmt, meta = _PlainUnpickler(_Reader(raw)).load()
    if fmt != FORMAT:
        raise ValueError(f"engine state format {fmt}, this engine reads {FORMAT}")
    return meta


def _put_column(col: Column, values: np.ndarray) -> None:
    col.buf = np.array(values, col.buf.dtype)  # a copy: it grows from here
    if not len(col.buf):
        col.buf = np.zeros(16, col.buf.dtype)
    col.n = len(values)


def _put_plain(owner: Any, key: Any, old: Any, value: Any) -> None:
    """In place where the object may be shared (the batch path holds the holders' dicts)."""
    if isinstance(old, dict) and isinstance(value, dict):
        old.clear()
        old.update(value)
    elif isinstance(old, list) and isinstance(value, list):
        old[:] = value
    elif isinstance(old, set) and isinstance(value, set):
        old.clear()
        old.update(value)
    elif isinstance(owner, list):
        owner[key] = value
    else:
        setattr(owner, key, value)


def engine_from_state(master: MasterData, parts: Mapping[str, np.ndarray],
                      spill_block: int = 1 << 16,
                      blocks: Callable[[], Any] = MemoryBlocks) -> Engine:
    """A fresh engine over `master` with the state `parts` holds (`EngineState.arrays`
    plus each store's bytes under its key). Raises ValueError when the parts do not
    fit this engine (another format, master data or spill block)."""
    meta = _meta(parts)
    engine = Engine(master, spill_block, blocks)
    layered: dict[int, BaseBlocks] = {}
    for path, owner, key, value in _leaves(engine):
        if isinstance(value, np.ndarray):
            saved = parts[path]
            if saved.shape != value.shape and path.split(".")[0] in ("inv", "ledger"):
                raise ValueError(f"engine state {path}: shape {saved.shape}, this master"
                                 f" data gives {value.shape}")
            setattr(owner, key, np.array(saved, value.dtype))
        elif isinstance(value, Column):
            _put_column(value, parts[path])
        elif isinstance(value, SpillColumn):
            store_key, cold_n, offsets, block = meta[path]
            if block != value.block:
                raise ValueError(f"engine state {path}: spill block {block}, not {value.block}")
            store = layered.get(id(value.store))
            if store is None:
                store = layered[id(value.store)] = BaseBlocks(
                    np.asarray(parts[store_key], np.uint8), value.store)
            value.store = store
            _put_column(value.hot, parts[f"{path}.hot"])
            value.cold_n, value.blocks = cold_n, list(offsets)
        else:
            _put_plain(owner, key, value, meta[path])
    return engine


# columns and meta holding ids into `ledger.names`: interned on first sight, so a run
# of events and the same events one at a time may number them differently
_NAME_IDS = frozenset({"ledger.cols[2]", "ledger.cols[3]", "ledger.cols[4]",
                       "ledger.cols[5]", "batch.wo_name"})
# kept in a form that depends on when rows were spilled or ids moved to the sorted
# arrays: compared by what they hold, below
_LAYOUT = frozenset({"ids.keys", "ids.vals", "ids.recent", "ledger.names",
                     "ledger._name_id", "batch._memo_ids"})


def state_differences(a: EngineState, b: EngineState, chunk: int = 1 << 20) -> list[str]:
    """What differs between states a and b (empty: the same engine, whatever the runs
    they were built in): each column's rows as read back (spilled or not), names by
    their text, the id index by the records it holds."""
    ma, mb = _meta(a.arrays), _meta(b.arrays)
    out = []
    if set(ma.get("ledger.names", ())) != set(mb.get("ledger.names", ())):
        out.append("ledger.names")
        remap = None
    else:
        b_id = mb["ledger._name_id"]
        remap = np.array([b_id[name] for name in ma["ledger.names"]], np.int64)
    for name in sorted(set(a.arrays) | set(b.arrays)):
        if name == "meta" or name.endswith(".hot") or name in _LAYOUT:
            continue
        x, y = a.arrays.get(name), b.arrays.get(name)
        if x is not None and remap is not None and name in _NAME_IDS:
            x = remap[x]
        if not _same_array(x, y):
            out.append(name)
    for key in sorted(set(ma) | set(mb), key=str):
        x, y = ma.get(key), mb.get(key)
        spilled = isinstance(x, tuple) and f"{key}.hot" in a.arrays
        if spilled:
            fx, fy = _ReadBack(a, key, x), _ReadBack(b, key, y)
            if fx.n != fy.n or any(
                    not _same_array(remap[p] if remap is not None and key in _NAME_IDS
                                    else p, q)
                    for p, q in zip(fx.chunks(chunk), fy.chunks(chunk))):
                out.append(key)
        elif key not in _LAYOUT and not _same_plain(x, y):
            out.append(f"meta {key}")
    if remap is not None and {k: int(remap[v]) for k, v in ma["batch._memo_ids"].items()
                              } != mb["batch._memo_ids"]:
        out.append("meta batch._memo_ids")
    if not _same_array(*(np.sort(np.concatenate(
            [s.arrays["ids.vals"], np.fromiter(m["ids.recent"].values(), np.int64)]))
            for s, m in ((a, ma), (b, mb)))):
        out.append("ids (the records the id index holds)")
    return out


def _same_array(x, y) -> bool:
    return (x is not None and y is not None and x.shape == y.shape and np.array_equal(
        x, y, equal_nan=x.dtype.kind == "f"))


class _ReadBack:
    """A spilled column of a state read back in order: its blocks from the store's
    bytes, then its rows in memory."""

    def __init__(self, state: EngineState, path: str, meta: tuple):
        self.store_key, self.cold_n, self.offsets, self.block = meta
        self.hot = state.arrays[f"{path}.hot"]
        self.store = state.stores[self.store_key].store
        self.n = self.cold_n + len(self.hot)

    def chunks(self, size: int) -> Iterator[np.ndarray]:
        """Rows [0, size), [size, 2 size), ...: the same windows whatever was spilled."""
        held: list[np.ndarray] = []
        count = 0
        for piece in self._pieces():
            held.append(piece)
            count += len(piece)
            while count >= size:
                rows = np.concatenate(held)
                yield rows[:size]
                held, count = [rows[size:]], count - size
        yield np.concatenate(held) if held else self.hot[:0]

    def _pieces(self) -> Iterator[np.ndarray]:
        nbytes = self.block * self.hot.dtype.itemsize
        for o in self.offsets:
            yield np.frombuffer(self.store.read(o, nbytes), self.hot.dtype)
        yield self.hot


def _same_plain(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float) and x != x and y != y:
        return True  # NaN
    if type(x) is not type(y):
        return False
    if isinstance(x, (list, tuple)):
        return len(x) == len(y) and all(map(_same_plain, x, y))
    return x == y
